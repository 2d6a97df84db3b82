"""A failing store fails the affected futures with StoreError and never loses a session.

The store here is a local ``MemoryStore`` subclass that fails on demand (like
``runtime.testing.FlakyStore``), so these tests run unchanged against older versions.
"""

from __future__ import annotations

import threading

import pytest

from runtime import Bot, MemoryStore, Runtime, Session, StoreError
from runtime.session import SessionData

TIMEOUT = 10


class DiskFull(OSError):
    """What the failing store raises."""


class BreakableStore(MemoryStore):
    """A MemoryStore whose operations fail on demand: ``fail(op, times)``, ``heal()``."""

    def __init__(self) -> None:
        super().__init__()
        self._left: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self.save_failed = threading.Event()  # set on every failed save
        self.saved = threading.Event()  # set on every successful save

    def fail(self, operation: str, times: int | None = None) -> None:
        with self._lock:
            self._left[operation] = times

    def heal(self) -> None:
        with self._lock:
            self._left.clear()

    def _check(self, operation: str) -> None:
        with self._lock:
            if operation not in self._left:
                return
            left = self._left[operation]
            if left is not None:
                if left <= 1:
                    del self._left[operation]
                else:
                    self._left[operation] = left - 1
        raise DiskFull(f"injected {operation} failure")

    def load(self, session_id: str) -> SessionData | None:
        self._check("load")
        return super().load(session_id)

    def save(self, data: SessionData) -> None:
        try:
            self._check("save")
        except DiskFull:
            self.save_failed.set()
            raise
        super().save(data)
        self.saved.set()

    def delete(self, session_id: str) -> None:
        self._check("delete")
        super().delete(session_id)


def counter_bot() -> Bot:
    bot = Bot("counter")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply(f"welcome {session.id}"))

    def count(session: Session) -> None:
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.id}:{session.message}:{session.get('n')}")

    state.set_fallback_body(count)
    return bot


def test_a_failing_save_fails_the_passivation_with_store_error_and_keeps_the_session_live() -> None:
    store = BreakableStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome a", "a:x:1"]
        store.fail("save")
        with pytest.raises(StoreError) as failure:
            rt.passivate("a").result(TIMEOUT)
        assert isinstance(failure.value.__cause__, DiskFull)
        assert rt.stats().sessions_live == 1
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.data == {"n": 1}
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]
        store.heal()  # (stop() saves live sessions)


def test_the_next_passivation_retries_a_failed_save_and_keeps_the_latest_data() -> None:
    store = BreakableStore()
    with Runtime(counter_bot(), store=store) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        store.fail("save", times=1)
        with pytest.raises(StoreError):
            rt.passivate("a").result(TIMEOUT)
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]
        assert rt.passivate("a").result(TIMEOUT) is True
        stored = store.load("a")
        assert stored is not None
        assert stored.data == {"n": 2}
        assert rt.stats().sessions_live == 0
        assert rt.send_message("a", "z").result(TIMEOUT) == ["a:z:3"]


def test_a_session_the_idle_sweeper_fails_to_save_keeps_its_data() -> None:
    store = BreakableStore()
    store.fail("save")
    with Runtime(counter_bot(), store=store, idle_timeout=0.05) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome a", "a:x:1"]
        assert store.save_failed.wait(TIMEOUT)  # the sweeper tried to passivate it
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]
        store.heal()
        assert store.saved.wait(TIMEOUT)  # a later sweep retried, and it worked
        assert rt.send_message("a", "z").result(TIMEOUT) == ["a:z:3"]


def test_a_failing_load_fails_the_event_with_store_error_and_the_next_event_loads_again() -> None:
    store = BreakableStore()
    with Runtime(counter_bot(), store=store) as rt:
        rt.send_message("a", "x").result(TIMEOUT)
        assert rt.passivate("a").result(TIMEOUT) is True
        store.fail("load", times=1)
        with pytest.raises(StoreError) as failure:
            rt.send_message("a", "lost").result(TIMEOUT)
        assert isinstance(failure.value.__cause__, DiskFull)
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]
        assert rt.stats().events_pending == 0


def test_failing_loads_leak_nothing_into_max_pending_and_stop_still_reports_a_full_drain() -> None:
    store = BreakableStore()
    rt = Runtime(counter_bot(), store=store, max_pending=3).start()
    store.fail("load")
    for i in range(6):
        with pytest.raises(StoreError):
            rt.send_message(f"user{i}", "x").result(TIMEOUT)
    assert rt.stats().events_pending == 0
    store.heal()
    assert rt.send_message("fresh", "x").result(TIMEOUT) == ["welcome fresh", "fresh:x:1"]
    assert rt.stop() is True


def test_stop_with_a_failing_save_stops_everything_then_raises_and_a_second_stop_is_quiet() -> None:
    store = BreakableStore()
    rt = Runtime(counter_bot(), store=store).start()
    rt.send_message("a", "x").result(TIMEOUT)
    rt.send_message("b", "x").result(TIMEOUT)
    store.fail("save", times=1)  # the first session's save fails, the second's works
    with pytest.raises(StoreError) as failure:
        rt.stop()
    assert "'a'" in str(failure.value)  # names the session it could not save
    assert rt.running is False
    assert rt.stats().workers == 0
    assert len(store) == 1  # the session after the failing one was still saved
    assert rt.stop() is True
