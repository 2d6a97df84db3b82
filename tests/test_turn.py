"""The commit point: a turn is committed whole or not at all, and a failed turn leaves no trace.

The first half drives :class:`runtime.turn.SessionTurns` directly, one session and no actors;
the second half checks the same promises through a Runtime, where turns fail because a body
raised ``SystemExit``, a bug killed the actor, a value could not be copied or a save was
interrupted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
from collections.abc import Callable
from typing import Any

import pytest

from runtime import (
    Bot,
    Event,
    File,
    MemoryStore,
    Runtime,
    Session,
    SessionCrashedError,
    SessionValueError,
    StoreError,
    StoreUnavailableError,
    TurnKind,
)
from runtime.engine import Engine
from runtime.session import SessionData
from runtime.store import Persistence
from runtime.turn import SessionTurns

TIMEOUT = 10

APPLE = File(file_name="apple.txt", file_data=b"apple")
CRASH_FILE = File(file_name="crash.txt", file_data=b"boom")


class Ledger:
    """A bot whose turns touch every part of a session, and a probe that reads them back.

    A message "note X" moves to ``noted`` (new state, intent and message), whose body appends X
    to the list ``items`` *in place*, counts, replies, and raises ``SystemExit`` when X contains
    "crash"; a file goes to ``filed``, which does the same with the file's name. Both go back to
    ``start``, whose body (also the reset's) raises ``SystemExit`` while ``crash_reset`` is set.
    The event "probe" reads the last intent, message and file without changing anything.
    """

    def __init__(self) -> None:
        self.crash_reset = threading.Event()
        self.ran: list[str] = []  # what the noted and filed bodies were run for, in order
        self.probes: list[tuple[str | None, str | None, str | None]] = []
        self.bot = Bot("ledger")
        start = self.bot.new_state("start", initial=True)
        noted = self.bot.new_state("noted")
        filed = self.bot.new_state("filed")
        note = self.bot.new_intent("note", ["note"])
        start.set_body(self.welcome)
        start.when_intent_matched_go_to(note, noted)
        start.when_file_received_go_to(filed)
        start.when_event_go_to(self.probe, noted, {})  # never holds: it only reads
        noted.set_body(self.append_message)
        noted.go_to(start)
        filed.set_body(self.append_file)
        filed.go_to(start)

    def welcome(self, session: Session) -> None:
        if self.crash_reset.is_set():
            session.reply("never delivered")
            raise SystemExit(2)
        if session.get("items") is None:
            session.set("items", [])
        session.reply("ready")

    def append_message(self, session: Session) -> None:
        self.append(session, session.message or "")

    def append_file(self, session: Session) -> None:
        assert session.file is not None
        self.append(session, f"file {session.file.name}")

    def append(self, session: Session, item: str) -> None:
        self.ran.append(item)
        session.get("items").append(item)  # in place: only a deep rollback undoes it
        session.set("count", (session.get("count") or 0) + 1)
        session.reply(f"kept {item}")
        if "crash" in item:
            raise SystemExit(1)

    def probe(self, session: Session, params: dict[str, Any]) -> bool:
        if session.event is None or session.event.name != "probe":
            return False
        intent = session.predicted_intent
        file = session.file
        self.probes.append(
            (
                None if intent is None else intent.intent.name,
                session.message,
                None if file is None else file.name,
            )
        )
        return False

    def state_of(self, rt: Runtime, session_id: str = "u") -> tuple[Any, ...]:
        """Everything the session holds: state, data, history, last intent, message and file."""
        snap = rt.snapshot(session_id)
        assert snap is not None
        assert rt.send_event(session_id, "probe").result(TIMEOUT) == []
        return (snap.state, copy.deepcopy(dict(snap.data)), snap.chat_history, self.probes[-1])


def record_state(record: SessionData) -> tuple[Any, ...]:
    """A deep copy of everything a turn may change in ``record``."""
    return (
        record.state,
        copy.deepcopy(record.data),
        list(record.chat_history),
        record.predicted_intent,
        record.file,
        record.message,
    )


def new_turns(ledger: Ledger, *, max_history: int | None = None) -> SessionTurns:
    ledger.bot.freeze()
    return SessionTurns(Engine(ledger.bot), SessionData("u"), max_history=max_history)


def note(text: str, message_id: str | None = None) -> Event:
    return Event.message("u", f"note {text}", message_id=message_id)


# -- the commit point, driven directly --------------------------------------------------------


def test_a_rollback_returns_the_record_to_its_last_commit_exactly() -> None:
    ledger = Ledger()
    turns = new_turns(ledger)
    turns.run(note("apple"))
    turns.run(Event("u", TurnKind.FILE, APPLE))
    committed = record_state(turns.record)
    turns.execute(note("pear"))  # runs, changes everything, and is not committed
    assert record_state(turns.record) != committed
    turns.rollback()
    assert record_state(turns.record) == committed
    assert turns.record.data["items"] == ["note apple", "file apple.txt"]
    turns.record.data["items"].append("changed after the rollback")
    snap = turns.snapshot()
    assert snap is not None
    assert snap.data["items"] == ["note apple", "file apple.txt"]  # the commit shares nothing


def test_execute_rolls_back_by_itself_when_a_body_raises_a_base_exception() -> None:
    ledger = Ledger()
    turns = new_turns(ledger)
    turns.run(note("apple"))
    committed = record_state(turns.record)
    with pytest.raises(SystemExit):
        turns.execute(note("crash"))
    assert record_state(turns.record) == committed
    assert turns.run(note("pear")).replies == ["kept note pear", "ready"]
    assert turns.record.data["items"] == ["note apple", "note pear"]


def test_a_reset_that_crashes_gets_its_chat_history_back() -> None:
    ledger = Ledger()
    turns = new_turns(ledger)
    turns.run(note("apple"))
    committed = record_state(turns.record)
    ledger.crash_reset.set()
    with pytest.raises(SystemExit):
        turns.execute(Event("u", TurnKind.RESET))
    assert record_state(turns.record) == committed


def test_commit_refuses_an_uncopyable_value_naming_its_key_and_rolls_the_turn_back() -> None:
    bot = Bot("locker")
    state = bot.new_state("s", initial=True)

    def keep(session: Session) -> None:
        session.get("items").append(session.message)
        if session.message == "lock":
            session.set("guard", threading.Lock())
        session.reply("kept")

    state.set_body(lambda session: session.set("items", []))
    state.set_fallback_body(keep)
    bot.freeze()
    turns = SessionTurns(Engine(bot), SessionData("u"))
    turns.run(Event.message("u", "a"))
    committed = record_state(turns.record)
    event = Event.message("u", "lock", message_id="m1")
    outcome = turns.execute(event)
    with pytest.raises(SessionValueError, match="'guard' of type lock") as info:
        turns.commit(event, outcome)
    assert info.value.key == "guard"
    assert record_state(turns.record) == committed
    assert turns.record.replies_for("m1") is None
    assert turns.run(Event.message("u", "b")).replies == ["kept"]
    assert turns.record.data == {"items": ["a", "b"]}


def test_commit_keeps_the_newest_max_history_entries_and_a_later_rollback_is_exact() -> None:
    ledger = Ledger()
    turns = new_turns(ledger, max_history=3)
    turns.run(note("apple"))  # ready, note apple, kept note apple, ready: 4 entries
    assert turns.record.chat_history == [
        ("note apple", 1),
        ("kept note apple", 0),
        ("ready", 0),
    ]
    committed = record_state(turns.record)
    with pytest.raises(SystemExit):
        turns.execute(note("crash"))
    assert record_state(turns.record) == committed
    turns.run(note("pear"))
    assert turns.record.chat_history == [("note pear", 1), ("kept note pear", 0), ("ready", 0)]
    snap = turns.snapshot()
    assert snap is not None
    assert snap.chat_history == (("note pear", 1), ("kept note pear", 0), ("ready", 0))


def test_a_committed_message_id_skips_the_bodies_and_a_rolled_back_one_is_forgotten() -> None:
    ledger = Ledger()
    turns = new_turns(ledger)
    first = turns.run(note("apple", message_id="m0"))
    again = turns.run(note("apple", message_id="m0"))
    assert again.duplicate
    assert again.replies == first.replies
    outcome = turns.execute(note("pear", message_id="m1"))
    assert outcome.replies == ["kept note pear", "ready"]
    turns.rollback()
    assert turns.record.replies_for("m1") is None
    assert not turns.run(note("pear", message_id="m1")).duplicate
    assert ledger.ran == ["note apple", "note pear", "note pear"]


def test_commit_rolls_the_turn_back_when_saving_it_is_interrupted() -> None:
    # asyncio.CancelledError is a BaseException: what a store built on asyncio may raise.
    ledger = Ledger()
    ledger.bot.freeze()
    saved: list[SessionData] = []
    interrupt = threading.Event()

    def write(session_id: str, record: object) -> None:
        if interrupt.is_set():
            raise asyncio.CancelledError
        assert isinstance(record, SessionData)
        saved.append(record)

    persistence = Persistence(copy.deepcopy, write, check=None, standalone=False)
    turns = SessionTurns(Engine(ledger.bot), SessionData("u"), persistence=persistence)
    turns.run(note("apple"))
    committed = record_state(turns.record)
    interrupt.set()
    event = note("pear", message_id="m1")
    outcome = turns.execute(event)
    with pytest.raises(StoreUnavailableError):
        turns.commit(event, outcome)
    assert record_state(turns.record) == committed
    assert turns.record.replies_for("m1") is None
    interrupt.clear()
    turns.run(note("plum"))
    assert saved[-1].data["items"] == ["note apple", "note plum"]


# -- through a Runtime -----------------------------------------------------------------------


Crash = Callable[[Runtime, pytest.MonkeyPatch], concurrent.futures.Future[list[str]]]


def break_the_engine_after_the_bodies_of(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Make the turn of message ``text`` die of a bug after every one of its bodies ran."""
    real = Engine.run_turn

    def run_then_fail(self: Engine, session: Session, kind: Any, payload: Any, *args: Any) -> Any:
        outcome = real(self, session, kind, payload, *args)
        if payload == text:
            raise RuntimeError("injected bug after the bodies ran")
        return outcome

    monkeypatch.setattr(Engine, "run_turn", run_then_fail)


def systemexit_in_a_message_body(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> concurrent.futures.Future[list[str]]:
    return rt.send_message("u", "note crash")


def systemexit_in_a_file_body(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> concurrent.futures.Future[list[str]]:
    return rt.send_file("u", CRASH_FILE)


def a_runtime_bug_after_the_bodies_ran(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> concurrent.futures.Future[list[str]]:
    break_the_engine_after_the_bodies_of(monkeypatch, "note boom")
    return rt.send_message("u", "note boom")


@pytest.mark.parametrize(
    "crash",
    [systemexit_in_a_message_body, systemexit_in_a_file_body, a_runtime_bug_after_the_bodies_ran],
    ids=lambda crash: crash.__name__,
)
def test_a_crashed_turn_leaves_the_session_exactly_as_it_was(
    crash: Crash, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot) as rt:
        rt.send_message("u", "note apple").result(TIMEOUT)
        rt.send_file("u", APPLE).result(TIMEOUT)
        before = ledger.state_of(rt)
        assert before[1] == {"items": ["note apple", "file apple.txt"], "count": 2}
        assert before[3] == ("note", "note apple", "apple.txt")
        with pytest.raises(SessionCrashedError):
            crash(rt, monkeypatch).result(TIMEOUT)
        assert ledger.state_of(rt) == before
        monkeypatch.undo()
        rt.send_message("u", "note pear").result(TIMEOUT)
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.data == {"items": ["note apple", "file apple.txt", "note pear"], "count": 3}


def test_a_reset_whose_turn_crashes_keeps_the_chat_history() -> None:
    ledger = Ledger()
    with Runtime(ledger.bot) as rt:
        rt.send_message("u", "note apple").result(TIMEOUT)
        before = ledger.state_of(rt)
        assert len(before[2]) == 4
        ledger.crash_reset.set()
        with pytest.raises(SessionCrashedError):
            rt.reset("u").result(TIMEOUT)
        ledger.crash_reset.clear()
        assert ledger.state_of(rt) == before
        assert rt.reset("u").result(TIMEOUT) == ["ready"]


def test_a_crashed_turn_does_not_record_its_message_id_so_a_resend_runs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, poison_after=1) as rt:  # a crashed event is not retried
        replies = rt.send_message("u", "note apple", message_id="m0").result(TIMEOUT)
        assert rt.send_message("u", "note apple", message_id="m0").result(TIMEOUT) == replies
        assert ledger.ran == ["note apple"]  # the resend of a committed id ran no body
        break_the_engine_after_the_bodies_of(monkeypatch, "note boom")
        with pytest.raises(SessionCrashedError):
            rt.send_message("u", "note boom", message_id="m1").result(TIMEOUT)
        monkeypatch.undo()
        assert rt.send_message("u", "note boom", message_id="m1").result(TIMEOUT) == [
            "kept note boom",
            "ready",
        ]
        assert ledger.ran == ["note apple", "note boom", "note boom"]
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.data == {"items": ["note apple", "note boom"], "count": 2}


def locker_bot() -> Bot:
    """The message "lock" stores a threading.Lock; any other is appended to ``items`` in place."""
    bot = Bot("locker")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.set("items", []))

    def body(session: Session) -> None:
        if session.message == "lock":
            session.set("guard", threading.Lock())
        else:
            session.get("items").append(session.message)
        session.reply("ok")

    state.set_fallback_body(body)
    return bot


def test_a_snapshot_never_shares_nested_values_with_the_live_session() -> None:
    with Runtime(locker_bot()) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        locked = rt.send_message("u", "lock")
        concurrent.futures.wait([locked], TIMEOUT)  # committed or not: see the next test
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.data["items"] == ["a"]
        rt.send_message("u", "b").result(TIMEOUT)  # appends to the live list in place
        assert snap.data["items"] == ["a"]
        snap.data["items"].append("written into the snapshot")
        later = rt.snapshot("u")
        assert later is not None
        assert later.data["items"] == ["a", "b"]


def test_a_turn_storing_an_uncopyable_value_fails_naming_the_key_and_changes_nothing() -> None:
    with Runtime(locker_bot()) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        before = rt.snapshot("u")
        with pytest.raises(SessionValueError, match="'guard'") as info:
            rt.send_message("u", "lock").result(TIMEOUT)
        assert info.value.key == "guard"
        assert rt.snapshot("u") == before
        assert rt.send_message("u", "b").result(TIMEOUT) == ["ok"]
        after = rt.snapshot("u")
        assert after is not None
        assert after.data == {"items": ["a", "b"]}
        assert "lock" not in [text for text, _ in after.chat_history]
        assert rt.stats().value_errors == 1


def test_max_history_keeps_the_newest_entries_and_bodies_see_only_those() -> None:
    seen: list[list[tuple[str, int]]] = []
    bot = Bot("echo")
    state = bot.new_state("s", initial=True)

    def echo(session: Session) -> None:
        seen.append(session.chat_history)
        session.reply(f"echo {session.message}")

    state.set_fallback_body(echo)
    with Runtime(bot, max_history=3) as rt:
        for word in ("one", "two", "three"):
            rt.send_message("u", word).result(TIMEOUT)
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.chat_history == (("echo two", 0), ("three", 1), ("echo three", 0))
    # Each body saw the kept history (at most 3 entries) and its own message.
    assert seen == [
        [("one", 1)],
        [("one", 1), ("echo one", 0), ("two", 1)],
        [("echo one", 0), ("two", 1), ("echo two", 0), ("three", 1)],
    ]


def test_a_crashed_turn_after_the_history_was_trimmed_rolls_back_exactly() -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, max_history=2) as rt:
        rt.send_message("u", "note apple").result(TIMEOUT)
        rt.send_message("u", "note pear").result(TIMEOUT)
        before = ledger.state_of(rt)
        assert before[2] == (("kept note pear", 0), ("ready", 0))
        with pytest.raises(SessionCrashedError):
            rt.send_message("u", "note crash").result(TIMEOUT)
        assert ledger.state_of(rt) == before
        ledger.crash_reset.set()
        with pytest.raises(SessionCrashedError):
            rt.reset("u").result(TIMEOUT)
        ledger.crash_reset.clear()
        assert ledger.state_of(rt) == before
        rt.send_message("u", "note plum").result(TIMEOUT)
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.chat_history == (("kept note plum", 0), ("ready", 0))
        assert snap.data == {"items": ["note apple", "note pear", "note plum"], "count": 3}


class InterruptibleStore(MemoryStore):
    """A durable in-memory store whose next save can be made to raise asyncio.CancelledError."""

    durable = True

    def __init__(self) -> None:
        super().__init__()
        self.interrupt = threading.Event()

    def save(self, data: SessionData) -> None:
        if self.interrupt.is_set():
            self.interrupt.clear()
            raise asyncio.CancelledError
        super().save(data)


def test_a_turn_whose_save_was_interrupted_is_not_committed_by_the_next_turn() -> None:
    store = InterruptibleStore()
    with Runtime(locker_bot(), store=store) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        store.interrupt.set()
        with pytest.raises((SessionCrashedError, StoreError)):
            rt.send_message("u", "b").result(TIMEOUT)
        assert rt.send_message("u", "c").result(TIMEOUT) == ["ok"]
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.data == {"items": ["a", "c"]}
        assert [text for text, sender in snap.chat_history if sender == 1] == ["a", "c"]
    record = store.load("u")
    assert record is not None
    assert record.data == {"items": ["a", "c"]}
