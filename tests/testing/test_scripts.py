"""Scripts: generated from a bot's own definition, seeded; read from and written to JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime import File
from runtime._loader import load_bot
from runtime.testing import Step, dump_scripts, generate_scripts, load_scripts, paraphrase
from runtime.testing import vocabulary as read_vocabulary
from runtime.testing._scripts import normalise_scripts

NOTEBOOK = "runtime/examples/notebook.py"
GREETINGS = "runtime/examples/greetings.py"


def test_the_same_seed_generates_the_same_scripts() -> None:
    first = generate_scripts(load_bot(NOTEBOOK, fresh=True), users=5, messages=8, seed=11)
    again = generate_scripts(load_bot(NOTEBOOK, fresh=True), users=5, messages=8, seed=11)

    assert first == again
    assert list(first) == ["user-0", "user-1", "user-2", "user-3", "user-4"]
    assert all(len(script) == 8 for script in first.values())


def test_another_seed_generates_other_scripts() -> None:
    bot = load_bot(NOTEBOOK, fresh=True)

    assert generate_scripts(bot, users=3, messages=6, seed=1) != generate_scripts(
        bot, users=3, messages=6, seed=2
    )


def test_generated_messages_come_mostly_from_the_training_sentences() -> None:
    bot = load_bot(GREETINGS, fresh=True)
    sentences = {s.lower() for intent in bot.intents for s in intent.training_sentences}
    scripts = generate_scripts(bot, users=10, messages=20, seed=3)
    texts = [step.text.lower() for script in scripts.values() for step in script]

    recognisable = [t for t in texts if any(s in t for s in sentences)]
    assert len(recognisable) > len(texts) / 3


def test_a_bot_without_file_or_event_transitions_gets_only_messages() -> None:
    scripts = generate_scripts(load_bot(GREETINGS, fresh=True), users=10, messages=20, seed=0)

    assert {step.kind for script in scripts.values() for step in script} == {"message"}


def test_a_bot_with_file_and_event_transitions_gets_files_and_events_too() -> None:
    scripts = generate_scripts(load_bot(NOTEBOOK, fresh=True), users=10, messages=20, seed=0)
    steps = [step for script in scripts.values() for step in script]

    assert {step.kind for step in steps} == {"message", "file", "event"}
    file_types = {step.file.type for step in steps if step.file is not None}
    assert file_types & {"image/png", "image/jpeg"}
    assert file_types - {"image/png", "image/jpeg"}
    assert "reminder" in {step.text for step in steps if step.kind == "event"}


def test_the_vocabulary_reads_file_types_and_event_names_from_the_transitions() -> None:
    words = read_vocabulary(load_bot(NOTEBOOK, fresh=True))

    assert words.allowed_types == ("image/jpeg", "image/png")
    assert "image/png" not in words.disallowed_types
    assert words.event_names[0] == "reminder"
    assert "add a note" in words.sentences


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "hello there"),
        ({"case": "upper", "punctuation": "!"}, "HELLO THERE!"),
        ({"filler": "um", "case": "title"}, "um Hello There"),
        ({"typo": "swap", "typo_at": 0}, "ehllo there"),
        ({"typo": "drop", "typo_at": 1}, "hllo there"),
        ({"typo": "double", "typo_at": 1}, "heello there"),
    ],
)
def test_paraphrase_adds_the_noise_asked_for(options: dict[str, object], expected: str) -> None:
    assert paraphrase("hello there", **options) == expected  # type: ignore[arg-type]


def test_scripts_survive_a_round_trip_through_json(tmp_path: Path) -> None:
    scripts = {
        "alice": (
            Step.message("hi"),
            Step.upload(File(file_name="cat.png", file_data=b"meow")),
            Step.event("reminder", {"text": "stretch"}),
        )
    }
    path = tmp_path / "scripts.json"
    path.write_text(dump_scripts(scripts))

    assert load_scripts(path) == scripts


def test_a_scripts_file_may_spell_steps_briefly(tmp_path: Path) -> None:
    path = tmp_path / "scripts.json"
    path.write_text(json.dumps({"bob": ["hi", {"event": "ping"}, {"file": "a.png"}]}))

    [bob] = load_scripts(path).values()
    assert [step.kind for step in bob] == ["message", "event", "file"]
    assert bob[2].file is not None
    assert bob[2].file.type == "image/png"


def nested(depth: int) -> str:
    """Return JSON lists nested ``depth`` deep: ``[[...]]``."""
    return "[" * depth + "]" * depth


def event_with(payload: str) -> str:
    """Return a scripts file whose one step is an event with ``payload`` (raw JSON)."""
    return '{"bob": [{"event": "x", "payload": {"a": ' + payload + "}}]}"


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        pytest.param("not json", "not valid JSON", id="not-json"),
        pytest.param("[]", "JSON object", id="not-an-object"),
        pytest.param('{"bob": "hi"}', "needs a list of steps", id="script-not-a-list"),
        pytest.param('{"bob": [42]}', "a step is a message", id="step-a-number"),
        pytest.param(
            json.dumps({"a" * 300: ["hi"]}),
            r"user 'a+\.\.\. has 300 characters; .* at most 256 characters$",
            id="user-id-too-long",
        ),
        pytest.param('{"": ["hi"]}', "a user id cannot be empty", id="user-id-empty"),
        pytest.param(
            r'{"\ud800": ["hi"]}', "user id .* is not valid Unicode", id="user-id-surrogate"
        ),
        pytest.param(
            '{"bob": ["hi"], "bob": ["bye"]}', "the key 'bob' appears twice", id="user-twice"
        ),
        pytest.param(
            '{"bob": ["hi", {"event": ""}]}',
            "user 'bob', step 1: an event name is a non-empty string, got ''",
            id="event-name-empty",
        ),
        pytest.param(
            '{"bob": [{"event": 7}]}', "an event name is a non-empty string", id="event-name-7"
        ),
        pytest.param(
            '{"bob": [{"event": "x", "payload": 0}]}',
            "payload is a JSON object, got 0",
            id="payload-0",
        ),
        pytest.param(
            '{"bob": [{"event": "x", "payload": [1]}]}',
            r"payload is a JSON object, got \[1\]",
            id="payload-a-list",
        ),
        pytest.param(
            '{"bob": [{"event": "x", "paylod": {}}]}',
            "take only the keys .*, not 'paylod'",
            id="payload-misspelt",
        ),
        pytest.param(event_with(nested(64)), "deeper than 64 levels", id="payload-too-deep"),
        pytest.param(event_with("1" * 5000), "Exceeds the limit", id="number-too-long"),
        pytest.param('{"bob": [{"file": ""}]}', "a file step needs a file name", id="file-no-name"),
        pytest.param(
            '{"bob": [{"file": "a.png", "type": 3}]}',
            "'type' is a string, got 3",
            id="file-type-a-number",
        ),
        pytest.param(
            '{"bob": [{"file": "a.png", "base64": "!"}]}', "not valid base64", id="file-base64"
        ),
        pytest.param(
            '{"bob": [{"file": "a.png", "event": "x"}]}',
            "a step is a message",
            id="file-and-event",
        ),
        pytest.param(
            r'{"bob": ["\udcff"]}', "step 0: a message is not valid Unicode", id="surrogate"
        ),
        pytest.param(
            '{"bob": ' + nested(100_000) + "}", "nests its JSON too deeply", id="json-too-deep"
        ),
    ],
)
def test_a_bad_scripts_file_is_refused_with_a_reason(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "scripts.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ValueError, match=complaint) as info:
        load_scripts(path)
    assert "\n" not in str(info.value)  # one line: the CLI prints it as is


def test_a_scripts_file_that_is_not_utf8_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "scripts.json"
    path.write_bytes(b'{"bob": ["\xff"]}')

    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_scripts(path)


def test_a_payload_just_within_the_depth_limit_is_read(tmp_path: Path) -> None:
    from runtime.testing._script_checks import MAX_PAYLOAD_DEPTH  # noqa: PLC0415

    deep = json.loads(nested(MAX_PAYLOAD_DEPTH - 1))
    path = tmp_path / "scripts.json"
    path.write_text(json.dumps({"bob": [{"event": "x", "payload": {"a": deep}}]}))

    assert load_scripts(path) == {"bob": (Step.event("x", {"a": deep}),)}


def test_an_event_with_a_null_payload_gets_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "scripts.json"
    path.write_text('{"bob": [{"event": "x", "payload": null}]}')

    assert load_scripts(path) == {"bob": (Step.event("x", {}),)}


def test_scripts_given_in_python_get_the_same_user_id_checks() -> None:
    with pytest.raises(ValueError, match="has 257 characters"):
        normalise_scripts({"a" * 257: ["hi"]})
    with pytest.raises(ValueError, match="cannot be empty"):
        normalise_scripts({"": ["hi"]})
    with pytest.raises(TypeError, match="not a list of messages"):
        normalise_scripts({"bob": 5})  # type: ignore[dict-item]

    assert normalise_scripts({"a" * 256: ["hi"]}) == {"a" * 256: (Step.message("hi"),)}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Step("event", ""), id="event-without-name"),
        pytest.param(
            lambda: Step("event", "x", file=File(file_name="a.png", file_data=b"x")),
            id="event-with-file",
        ),
        pytest.param(lambda: Step("file", "a.png"), id="file-without-file"),
        pytest.param(lambda: Step("message", 3), id="message-not-str"),  # type: ignore[arg-type]
        pytest.param(lambda: Step("bogus"), id="unknown-kind"),  # type: ignore[arg-type]
    ],
)
def test_a_step_built_directly_must_be_a_message_file_or_event(make: Callable[[], Step]) -> None:
    with pytest.raises(TypeError, match="not a step"):
        make()


def test_steps_read_well_in_reports_and_reprs() -> None:
    assert Step.message("hi").describe() == "'hi'"
    assert repr(Step.event("ping")) == "Step.event('ping', {})"
    upload = Step.upload(File(file_name="cat.png", file_data=b"x"))
    assert upload.describe() == "file cat.png (image/png)"
