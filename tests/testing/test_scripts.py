"""Scripts: generated from a bot's own definition, seeded; read from and written to JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime import File
from runtime._loader import load_bot
from runtime.testing import Step, dump_scripts, generate_scripts, load_scripts, paraphrase
from runtime.testing import vocabulary as read_vocabulary

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


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"bob": "hi"}', "needs a list of steps"),
        ('{"bob": [42]}', "a step is a message"),
    ],
)
def test_a_bad_scripts_file_is_refused_with_a_reason(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "scripts.json"
    path.write_text(content)

    with pytest.raises(ValueError, match=complaint):
        load_scripts(path)


def test_steps_read_well_in_reports_and_reprs() -> None:
    assert Step.message("hi").describe() == "'hi'"
    assert repr(Step.event("ping")) == "Step.event('ping', {})"
    upload = Step.upload(File(file_name="cat.png", file_data=b"x"))
    assert upload.describe() == "file cat.png (image/png)"
