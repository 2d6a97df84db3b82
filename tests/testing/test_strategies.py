"""Hypothesis strategies from a bot's definition, and the ready-made isolation property test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from runtime import File
from runtime._loader import load_bot
from runtime.testing import Step, conversations, files, isolation_test, messages, steps

RACY = Path(__file__).parent / "racy_bots"
NOTEBOOK = "runtime/examples/notebook.py"
NOTEBOOK_BOT = load_bot(NOTEBOOK, fresh=True)
QUICK = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,  # a test of the tool must not depend on Hypothesis's luck
    phases=[p for p in Phase if p is not Phase.explain],
)

# What a user's test suite writes: one line per bot.
test_the_greetings_example_keeps_its_users_isolated = isolation_test(
    "runtime/examples/greetings.py"
)
test_the_notebook_example_keeps_its_users_isolated = isolation_test(NOTEBOOK, max_users=3)


@given(messages(NOTEBOOK_BOT))
def test_generated_messages_are_non_empty_text(text: str) -> None:
    assert text.strip()


@given(files(NOTEBOOK_BOT))
def test_generated_files_are_of_allowed_and_disallowed_types(file: File) -> None:
    assert file.type in {"image/png", "image/jpeg", "application/x-msdownload", "text/plain",
                         "application/pdf"}  # fmt: skip
    assert file.data


NOTEBOOK_STEPS = steps(NOTEBOOK_BOT)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NOTEBOOK_STEPS, min_size=30, max_size=30))
def test_generated_steps_are_messages_files_and_events(drawn: list[Step]) -> None:
    assert {step.kind for step in drawn} <= {"message", "file", "event"}
    for step in drawn:
        assert (step.file is not None) == (step.kind == "file")


@given(conversations(NOTEBOOK_BOT, max_users=3, max_messages=4))
def test_conversations_respect_their_bounds(scripts: dict[str, tuple[object, ...]]) -> None:
    assert 1 <= len(scripts) <= 3
    assert list(scripts) == [f"user-{n}" for n in range(len(scripts))]
    assert all(1 <= len(script) <= 4 for script in scripts.values())


@pytest.mark.parametrize(
    "name", ["global_note", "last_user", "shared_counter", "lazy_cache", "stashed_session"]
)
def test_the_property_test_fails_on_a_racy_bot_and_shrinks_to_two_users(name: str) -> None:
    test = isolation_test(str(RACY / f"{name}.py"), settings=QUICK)

    with pytest.raises(AssertionError) as failure:
        test()

    report = str(failure.value)
    assert "does not keep its users isolated" in report
    users = int(re.search(r"seed \d+, (\d+) users", report).group(1))  # type: ignore[union-attr]
    assert users == 2  # a race needs two users, and shrinking leaves no more


def test_the_property_test_finds_the_wrong_key_bot_too() -> None:
    test = isolation_test(str(RACY / "wrong_key.py"), settings=QUICK)

    with pytest.raises(AssertionError, match="does not keep its users isolated"):
        test()


def test_the_property_test_has_a_name_of_its_own() -> None:
    test = isolation_test("runtime/examples/greetings.py")

    assert test.__name__ == "test_isolation_of_runtime_examples_greetings_py"
