"""Conversations with the notebook example bot, through a real Runtime.

They cover every transition kind it uses: intents, no intent matched, the note_count variable,
files by MIME type and the custom reminder event; and session.set/get/delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime import File, Runtime
from runtime.examples.notebook import bot

TIMEOUT = 5
WELCOME = [
    "Hi! I am your notebook and I keep up to 3 notes.",
    'Say "add a note", "list my notes" or "clear notes", or send me a picture.',
]
HELP = (
    'Sorry, I didn\'t get that. Say "add a note", "list my notes" or "clear notes", or send me '
    "a picture."
)
FULL = 'Your notebook is full (3 notes). Say "clear notes" to make room.'
ASK = "What should I write down?"


@pytest.fixture
def rt() -> Iterator[Runtime]:
    with Runtime(bot) as runtime:
        runtime.open_session("alice").result(timeout=TIMEOUT)
        yield runtime


def say(rt: Runtime, *messages: str) -> list[list[str]]:
    """Send ``messages`` to alice one after the other and return the replies to each."""
    return [rt.send_message("alice", text).result(timeout=TIMEOUT) for text in messages]


def add_notes(rt: Runtime, *notes: str) -> list[list[str]]:
    """Add each note with "add a note" then its text; return the replies to the texts."""
    return [say(rt, "add a note", note)[1] for note in notes]


def snapshot(rt: Runtime) -> tuple[str, dict[str, Any]]:
    snap = rt.snapshot("alice")
    assert snap is not None
    return snap.state, dict(snap.data)


def picture(name: str, mime: str | None = None) -> File:
    return File(file_name=name, file_type=mime, file_data=b"\x89PNG fake picture")


def test_opening_a_session_welcomes_the_user_with_an_empty_notebook() -> None:
    with Runtime(bot) as rt:
        assert rt.open_session("bob").result(timeout=TIMEOUT) == WELCOME
        snap = rt.snapshot("bob")
        assert snap is not None
        assert (snap.state, dict(snap.data)) == ("menu", {"note_count": 0})


def test_adding_a_note_asks_for_its_text_and_stores_the_next_message(rt: Runtime) -> None:
    assert say(rt, "add a note", "buy milk") == [[ASK], ["Noted: buy milk (1/3)"]]
    assert snapshot(rt) == ("menu", {"note_count": 1, "notes": ["buy milk"]})


def test_the_note_text_is_stored_even_when_it_sounds_like_a_command(rt: Runtime) -> None:
    assert say(rt, "new note", "list my notes") == [[ASK], ["Noted: list my notes (1/3)"]]


def test_listing_without_notes_says_there_are_none(rt: Runtime) -> None:
    assert say(rt, "show notes") == [["You have no notes yet."]]


def test_listing_numbers_the_notes_one_per_reply(rt: Runtime) -> None:
    add_notes(rt, "buy milk", "call mom")

    assert say(rt, "list my notes") == [["Your notes (2/3):", "1. buy milk", "2. call mom"]]


def test_the_third_note_fills_the_notebook_through_the_variable_transition(
    rt: Runtime,
) -> None:
    replies = add_notes(rt, "a", "b", "c")

    assert replies == [["Noted: a (1/3)"], ["Noted: b (2/3)"], ["Noted: c (3/3)", FULL]]
    assert snapshot(rt) == ("full", {"note_count": 3, "notes": ["a", "b", "c"]})


def test_a_full_notebook_refuses_new_notes_but_still_lists_them(rt: Runtime) -> None:
    add_notes(rt, "a", "b", "c")

    assert say(rt, "add a note", "list my notes", "hello") == [
        [FULL],
        ["Your notes (3/3):", "1. a", "2. b", "3. c", FULL],
        ['Your notebook is full: say "list my notes" or "clear notes".'],
    ]
    assert snapshot(rt)[0] == "full"


def test_clearing_deletes_the_notes_and_makes_room_again(rt: Runtime) -> None:
    add_notes(rt, "a", "b", "c")

    assert say(rt, "delete all notes") == [["Your notebook is empty now."]]
    assert snapshot(rt) == ("menu", {"note_count": 0})
    assert add_notes(rt, "d") == [["Noted: d (1/3)"]]


def test_clearing_an_empty_notebook_is_harmless(rt: Runtime) -> None:
    assert say(rt, "clear notes", "list my notes") == [
        ["Your notebook is empty now."],
        ["You have no notes yet."],
    ]


@pytest.mark.parametrize(("name", "mime"), [("cat.png", None), ("dog.jpg", "image/jpeg")])
def test_a_picture_is_saved_by_name(rt: Runtime, name: str, mime: str | None) -> None:
    assert rt.send_file("alice", picture(name, mime)).result(timeout=TIMEOUT) == [
        f"Saved picture {name}"
    ]
    assert snapshot(rt) == ("menu", {"note_count": 0, "picture": name})


def test_a_file_of_another_type_gets_the_fallback_reply(rt: Runtime) -> None:
    report = File(file_name="report.pdf", file_data=b"%PDF-1.7")

    assert rt.send_file("alice", report).result(timeout=TIMEOUT) == [HELP]
    assert snapshot(rt) == ("menu", {"note_count": 0})


def test_a_reminder_event_relays_its_text(rt: Runtime) -> None:
    replies = rt.send_event("alice", "reminder", {"text": "stretch"}).result(timeout=TIMEOUT)

    assert replies == ["Reminder: stretch"]
    assert snapshot(rt)[0] == "menu"


def test_a_reminder_without_text_still_arrives(rt: Runtime) -> None:
    assert rt.send_event("alice", "reminder").result(timeout=TIMEOUT) == ["Reminder: (no text)"]


def test_an_event_with_another_name_does_nothing(rt: Runtime) -> None:
    assert rt.send_event("alice", "ping", {"text": "x"}).result(timeout=TIMEOUT) == []
    assert snapshot(rt)[0] == "menu"


def test_a_reminder_arriving_while_a_note_is_written_does_not_interrupt_it(
    rt: Runtime,
) -> None:
    assert say(rt, "add a note") == [[ASK]]

    assert rt.send_event("alice", "reminder", {"text": "x"}).result(timeout=TIMEOUT) == []
    assert say(rt, "water plants") == [["Noted: water plants (1/3)"]]


@pytest.mark.parametrize(
    ("message", "first_reply"),
    [
        ("please add a note", ASK),
        ("take a note", ASK),
        ("I need to remember this", ASK),
        ("my notes", "You have no notes yet."),
        ("what are my notes?", "You have no notes yet."),
        ("delete my notes", "Your notebook is empty now."),
    ],
)
def test_paraphrases_reach_the_intended_state(rt: Runtime, message: str, first_reply: str) -> None:
    assert say(rt, message)[0][0] == first_reply


def test_an_unrecognised_message_gets_the_help_reply(rt: Runtime) -> None:
    assert say(rt, "what is the weather") == [[HELP]]


def test_reset_forgets_the_notes_and_welcomes_again(rt: Runtime) -> None:
    add_notes(rt, "a")

    assert rt.reset("alice").result(timeout=TIMEOUT) == WELCOME
    assert snapshot(rt) == ("menu", {"note_count": 0})


def test_users_have_separate_notebooks(rt: Runtime) -> None:
    add_notes(rt, "alice's note")

    assert rt.send_message("bob", "list my notes").result(timeout=TIMEOUT) == [
        *WELCOME,
        "You have no notes yet.",
    ]


def test_a_whole_conversation_raises_nothing_in_the_bot(rt: Runtime) -> None:
    add_notes(rt, "a", "b", "c")
    say(rt, "list my notes", "clear notes", "hmm")
    rt.send_file("alice", picture("cat.png")).result(timeout=TIMEOUT)
    rt.send_event("alice", "reminder", {"text": "x"}).result(timeout=TIMEOUT)

    stats = rt.stats()
    assert (stats.body_errors, stats.event_errors, stats.classifier_errors) == (0, 0, 0)
