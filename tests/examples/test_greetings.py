"""Conversations with the greetings example bot, through a real Runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import Runtime
from runtime.examples.greetings import bot

TIMEOUT = 5


@pytest.fixture
def rt() -> Iterator[Runtime]:
    with Runtime(bot) as runtime:
        yield runtime


def say(rt: Runtime, session_id: str, *messages: str) -> list[list[str]]:
    """Send ``messages`` one after the other and return the replies to each."""
    return [rt.send_message(session_id, text).result(timeout=TIMEOUT) for text in messages]


def state_of(rt: Runtime, session_id: str) -> str:
    snapshot = rt.snapshot(session_id)
    assert snapshot is not None
    return snapshot.state


def test_opening_a_session_says_nothing_and_waits_in_initial(rt: Runtime) -> None:
    assert rt.open_session("alice").result(timeout=TIMEOUT) == []
    assert state_of(rt, "alice") == "initial"


def test_hi_then_good_is_the_happy_conversation(rt: Runtime) -> None:
    assert say(rt, "alice", "hi", "good") == [["Hi! How are you?"], ["I am glad to hear that!"]]
    assert state_of(rt, "alice") == "initial"


def test_hello_then_awful_gets_sympathy(rt: Runtime) -> None:
    assert say(rt, "alice", "hello", "awful") == [
        ["Hi! How are you?"],
        ["I'm sorry to hear that..."],
    ]
    assert state_of(rt, "alice") == "initial"


@pytest.mark.parametrize(
    ("answer", "reply"),
    [
        ("I'm fine", "I am glad to hear that!"),
        ("great!", "I am glad to hear that!"),
        ("not bad", "I am glad to hear that!"),
        ("sad", "I'm sorry to hear that..."),
        ("not good", "I'm sorry to hear that..."),
        ("I'm not feeling great", "I'm sorry to hear that..."),
    ],
)
def test_paraphrased_answers_reach_the_right_state(rt: Runtime, answer: str, reply: str) -> None:
    assert say(rt, "alice", "hi", answer) == [["Hi! How are you?"], [reply]]


def test_a_conversation_can_start_over_after_returning_to_initial(rt: Runtime) -> None:
    replies = say(rt, "alice", "hi", "good", "hi", "bad")

    assert replies == [
        ["Hi! How are you?"],
        ["I am glad to hear that!"],
        ["Hi! How are you?"],
        ["I'm sorry to hear that..."],
    ]


def test_an_unrecognised_message_gets_the_default_fallback_and_stays_put(rt: Runtime) -> None:
    assert say(rt, "alice", "what is the weather") == [["Sorry, I didn't get it"]]
    assert state_of(rt, "alice") == "initial"

    assert say(rt, "alice", "hi", "purple elephant", "fine") == [
        ["Hi! How are you?"],
        ["Sorry, I didn't get it"],
        ["I am glad to hear that!"],
    ]


def test_how_are_you_answers_only_count_after_a_greeting(rt: Runtime) -> None:
    assert say(rt, "alice", "good") == [["Sorry, I didn't get it"]]


def test_two_users_are_at_different_points_of_the_conversation(rt: Runtime) -> None:
    say(rt, "alice", "hi")

    assert say(rt, "bob", "good") == [["Sorry, I didn't get it"]]
    assert say(rt, "alice", "good") == [["I am glad to hear that!"]]


def test_the_chat_history_records_both_sides_in_order(rt: Runtime) -> None:
    say(rt, "alice", "hi", "good")

    snapshot = rt.snapshot("alice")
    assert snapshot is not None
    assert snapshot.chat_history == (
        ("hi", 1),
        ("Hi! How are you?", 0),
        ("good", 1),
        ("I am glad to hear that!", 0),
    )


def test_a_whole_conversation_raises_nothing_in_the_bot(rt: Runtime) -> None:
    say(rt, "alice", "hi", "???", "good", "hello", "bad")

    stats = rt.stats()
    assert (stats.body_errors, stats.event_errors, stats.classifier_errors) == (0, 0, 0)
