"""Runtime.forget: erase a session, live and stored, in order with its events."""

from __future__ import annotations

import threading

import pytest

from runtime import Bot, Runtime, Session, StoreError
from runtime.testing import FlakyStore, StoreFault

TIMEOUT = 10


def counter_bot(gate: threading.Event | None = None, entered: threading.Event | None = None) -> Bot:
    bot = Bot("counter")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply(f"welcome {session.id}"))

    def count(session: Session) -> None:
        if entered is not None:
            entered.set()
        if gate is not None:
            assert gate.wait(TIMEOUT)
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.id}:{session.message}:{session.get('n')}")

    state.set_fallback_body(count)
    return bot


def test_forgetting_a_live_session_erases_it_and_the_next_event_finds_a_fresh_one() -> None:
    with Runtime(counter_bot()) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        rt.send_message("a", "y").result(TIMEOUT)
        assert rt.forget("a").result(TIMEOUT) is True
        assert rt.snapshot("a") is None
        assert rt.session_ids() == []
        stats = rt.stats()
        assert (stats.sessions_forgotten, stats.sessions_live) == (1, 0)
        assert rt.send_message("a", "z").result(TIMEOUT) == ["welcome a", "a:z:1"]


def test_forgetting_a_passivated_session_deletes_it_from_the_store() -> None:
    with Runtime(counter_bot()) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        assert rt.passivate("a").result(TIMEOUT) is True
        assert rt.store.load("a") is not None
        assert rt.forget("a").result(TIMEOUT) is True
        assert rt.store.load("a") is None
        assert rt.snapshot("a") is None
        assert rt.stats().sessions_passivated == 0


def test_forgetting_an_unknown_session_says_false() -> None:
    with Runtime(counter_bot()) as rt:
        rt.send_message("other", "x").result(TIMEOUT)
        assert rt.forget("nobody").result(TIMEOUT) is False
        assert rt.stats().sessions_forgotten == 0
        assert rt.session_ids() == ["other"]


def test_events_sent_before_forget_are_handled_first_and_events_after_it_find_a_new_session() -> (
    None
):
    gate, entered = threading.Event(), threading.Event()
    with Runtime(counter_bot(gate, entered)) as rt:
        before = rt.send_message("a", "1")
        assert entered.wait(TIMEOUT)
        queued_before = rt.send_message("a", "2")
        forgotten = rt.forget("a")
        after = rt.send_message("a", "3")
        gate.set()
        assert before.result(TIMEOUT) == ["welcome a", "a:1:1"]
        assert queued_before.result(TIMEOUT) == ["a:2:2"]
        assert forgotten.result(TIMEOUT) is True
        assert after.result(TIMEOUT) == ["welcome a", "a:3:1"]
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.data == {"n": 1}


def test_a_failing_delete_fails_forget_with_store_error_and_leaves_the_session_intact() -> None:
    store = FlakyStore()
    with Runtime(counter_bot(), store=store) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        store.fail("delete", times=1)
        with pytest.raises(StoreError) as failure:
            rt.forget("a").result(TIMEOUT)
        assert isinstance(failure.value.__cause__, StoreFault)
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.data == {"n": 1}
        assert rt.stats().sessions_forgotten == 0
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]
        assert rt.forget("a").result(TIMEOUT) is True  # retrying works
        assert rt.stats().sessions_forgotten == 1


class _Probe:
    """A session value whose copies note whether its session's (shared) cell lock is held."""

    def __init__(self, seen: list[bool], locked: list[threading.Lock]) -> None:
        self.seen = seen
        self.locked = locked

    def __deepcopy__(self, memo: dict[int, object]) -> _Probe:
        if self.locked:
            self.seen.append(self.locked[0].locked())
        return _Probe(self.seen, self.locked)


def test_undoing_a_failed_forget_runs_no_user_copy_under_the_cell_lock() -> None:
    # Cells share striped locks: user code (a value's __deepcopy__) run under one could wait
    # on another session's lock, the same lock. Undoing the wipe copies values outside it.
    seen: list[bool] = []
    locked: list[threading.Lock] = []
    bot = Bot("probe")
    state = bot.new_state("s", initial=True)
    state.set_fallback_body(lambda session: session.set("probe", _Probe(seen, locked)))
    store = FlakyStore()
    with Runtime(bot, store=store) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        cell = rt.backend._directory.get("a")  # type: ignore[attr-defined]
        assert cell is not None
        locked.append(cell.lock)
        store.fail("delete", times=1)
        with pytest.raises(StoreError):
            rt.forget("a").result(TIMEOUT)
        snap = rt.snapshot("a")
        assert snap is not None
        assert isinstance(snap.data["probe"], _Probe)  # the session came back whole
    assert seen  # the undo copied the value ...
    assert not any(seen)  # ... never while holding the cell's lock
