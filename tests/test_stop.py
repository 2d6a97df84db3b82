"""Stopping: every future settles, stop() keeps to its timeout, and nothing of a failed turn stays.

Also the timeouts themselves: NaN, infinite and out-of-range seconds are refused before anything
changes, ``idle_timeout`` means seconds, and a runtime dropped without ``stop()`` still ends its
threads.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import Bot, Runtime, RuntimeStoppedError, Session
from runtime.actors import Directory, _requests
from runtime.actors._requests import TurnRequest

TIMEOUT = 10

# runtime-N-worker-K, runtime-N-monitor (the dispatcher's), runtime-sweeper
_RUNTIME_THREAD = re.compile(r"runtime-(?:\d+-)?(?P<kind>worker|monitor|sweeper)(?:-\d+)?")


class Blocker:
    """A bot whose message "wait" blocks its body on ``gate``; any other message is quick.

    The initial body sets ``items`` to ``[]``. "wait" first appends to ``items`` in place, sets
    ``n``, replies, then blocks, so a turn failed while it blocks has changed every part of the
    session (data, nested values, history) without committing any of it.
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.threads: list[threading.Thread] = []  # the worker that ran each "wait" body
        self.ran: list[str] = []
        self.bot = Bot("blocker")
        state = self.bot.new_state("s", initial=True)
        state.set_body(self.welcome)
        state.set_fallback_body(self.body)

    def welcome(self, session: Session) -> None:
        session.set("items", [])
        session.reply("welcome")

    def body(self, session: Session) -> None:
        text = session.message or ""
        self.ran.append(text)
        if text == "wait":
            self.threads.append(threading.current_thread())
            session.get("items").append("x")
            session.set("n", 1)
            session.reply("waited")
            self.entered.set()
            self.gate.wait(TIMEOUT)
        else:
            session.reply(f"got {text}")


def runtime_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The runtime's threads (workers, monitor, sweeper) started since ``before`` was taken."""
    return [
        t for t in threading.enumerate() if t not in before and _RUNTIME_THREAD.fullmatch(t.name)
    ]


def join_all(threads: list[threading.Thread], timeout: float = TIMEOUT) -> list[str]:
    """Wait (up to ``timeout`` in all) for ``threads`` to end; return the names still alive."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threads if t.is_alive()]


@pytest.fixture
def blocker() -> Iterator[Blocker]:
    blocker = Blocker()
    yield blocker
    blocker.gate.set()  # never leave a body blocked behind a failed test


# -- a turn failed by stop() -----------------------------------------------------------------


def test_a_turn_failed_by_stop_leaves_nothing_in_the_store(blocker: Blocker) -> None:
    rt = Runtime(blocker.bot).start()
    assert rt.open_session("u").result(TIMEOUT) == ["welcome"]
    working = rt.send_message("u", "wait", message_id="m1")
    assert blocker.entered.wait(TIMEOUT)
    assert rt.stop(timeout=0) is False
    with pytest.raises(RuntimeStoppedError):
        working.result(0)

    def stored() -> tuple[Any, ...]:
        record = rt.store.load("u")
        assert record is not None
        return (
            record.state,
            copy.deepcopy(record.data),
            list(record.chat_history),
            record.replies_for("m1"),
        )

    committed: tuple[Any, ...] = ("s", {"items": []}, [("welcome", 0)], None)
    assert stored() == committed
    blocker.gate.set()  # the body returns after stop(): its turn must still not commit
    [worker] = blocker.threads
    worker.join(TIMEOUT)  # stop() told it to end after the slice it is in: the turn is over
    assert not worker.is_alive()
    assert stored() == committed
    # The failed turn did not record its message_id: resent to a new runtime, it runs.
    with Runtime(blocker.bot, store=rt.store) as again:
        assert again.send_message("u", "wait", message_id="m1").result(TIMEOUT) == ["waited"]
    assert blocker.ran == ["wait", "wait"]


# -- stop() keeps to its timeout and settles every future ------------------------------------


def test_stop_returns_at_its_timeout_without_waiting_for_a_blocked_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop_returned = threading.Event()
    body_ended = threading.Event()
    bodies: list[threading.Thread] = []
    entered = threading.Event()
    bot = Bot("stuck")

    def stuck(session: Session) -> None:
        bodies.append(threading.current_thread())
        entered.set()
        stop_returned.wait(TIMEOUT)  # set by the test only once stop() returned
        body_ended.set()

    bot.new_state("s", initial=True).set_fallback_body(stuck)
    rt = Runtime(bot).start()
    future = rt.send_message("u", "x")
    assert entered.wait(TIMEOUT)
    [body] = bodies
    waits: list[float | None] = []  # every wait stop() spends on the blocked body's thread
    real_join = threading.Thread.join

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        if self is body:
            waits.append(timeout)
        real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)
    try:
        assert rt.stop(timeout=0.2) is False
        body_still_blocked = not body_ended.is_set()
    finally:
        monkeypatch.undo()
        stop_returned.set()
    assert body_still_blocked
    # Its timeout was spent draining: stop() did not wait any longer on the stuck body.
    assert [wait for wait in waits if wait is None or wait > 0] == []
    with pytest.raises(RuntimeStoppedError):
        future.result(0)
    body.join(TIMEOUT)


def test_stop_fails_the_future_of_a_sender_caught_between_acceptance_and_routing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accepted, release = threading.Event(), threading.Event()
    real_route = Directory.route

    def pause_then_route(self: Directory, session_id: str) -> Any:
        # Called on every send, after the event was accepted (counted).
        if threading.current_thread().name == "late-sender":
            accepted.set()
            release.wait(TIMEOUT)  # stop() runs meanwhile
        return real_route(self, session_id)

    monkeypatch.setattr(Directory, "route", pause_then_route)
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: session.reply("ok"))
    rt = Runtime(bot).start()
    futures: list[Any] = []
    sender = threading.Thread(
        target=lambda: futures.append(rt.send_message("late", "hi")), name="late-sender"
    )
    sender.start()
    assert accepted.wait(TIMEOUT)
    try:
        assert rt.stop(timeout=0) is False
    finally:
        release.set()
    sender.join(TIMEOUT)
    [future] = futures
    with pytest.raises(RuntimeStoppedError):
        future.result(TIMEOUT)
    assert rt.session_ids() == []  # no session was made after stop()
    assert rt.stats().events_pending == 0


def _stop_while_paused(monkeypatch: pytest.MonkeyPatch, pause_at: str) -> None:
    """Pause the worker at ``pause_at`` of a queued turn, stop() meanwhile, check the outcome.

    ``pause_at``: "popped" (the actor took the request and recorded it as the cell's running
    one; its future is still pending) or "marked" (the future was just marked running, the
    turn not started). Either way stop() must fail the future before it returns, nothing of
    the turn may commit (a popped one never runs; a marked one runs, then rolls back, as any
    turn stop() abandons), and the counters must add up.
    """
    armed, taken, proceed = threading.Event(), threading.Event(), threading.Event()

    def pause() -> None:
        if armed.is_set() and threading.current_thread() is not threading.main_thread():
            armed.clear()
            taken.set()
            proceed.wait(TIMEOUT)  # stop() runs meanwhile

    if pause_at == "popped":
        # on_tell reads request.attempts right after recording the running request.
        def attempts(self: TurnRequest) -> int:
            pause()
            return 0

        monkeypatch.setattr(TurnRequest, "attempts", property(attempts))
    real_lock = _requests.allocate_lock

    class MarkPausingLock:
        """The future's lock: the worker's first release of it ends the inline running mark."""

        def __init__(self) -> None:
            self._lock = real_lock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            return self._lock.acquire(blocking, timeout)

        def release(self) -> None:
            self._lock.release()

        def __enter__(self) -> bool:
            return self._lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self._lock.release()
            if pause_at == "marked":
                pause()

    ran: list[str] = []
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: ran.append("body"))
    rt = Runtime(bot).start()
    rt.open_session("u").result(TIMEOUT)
    monkeypatch.setattr(_requests, "allocate_lock", MarkPausingLock)
    armed.set()
    future = rt.send_message("u", "hi")
    assert taken.wait(TIMEOUT)
    try:
        assert future.running() is (pause_at == "marked")
        assert rt.stop(timeout=0) is False
        settled_by_stop = future.done()
        stats = rt.stats()
    finally:
        proceed.set()
    assert settled_by_stop
    assert stats.events_pending == 0
    with pytest.raises(RuntimeStoppedError):
        future.result(TIMEOUT)
    assert rt.backend._dispatcher.stop(TIMEOUT)  # the paused worker went on and finished
    assert ran == ([] if pause_at == "popped" else ["body"])
    saved = rt.store.load("u")  # what stop() saved: the opening, not the stopped turn
    assert saved is not None
    assert saved.chat_history == []
    stats = rt.stats()
    assert (stats.events_accepted, stats.events_processed, stats.events_failed) == (2, 1, 1)


def test_stop_fails_a_turn_its_actor_took_from_the_inbox_but_had_not_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The actor records the turn as the cell's running one, then marks its future running
    # (inline, under the future's lock): a stop() right after the mark finds it running.
    _stop_while_paused(monkeypatch, "marked")


def test_stop_fails_a_turn_its_actor_took_before_its_future_was_marked_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before the mark: stop() fails the pending future; the actor then finds it settled and
    # must neither run it nor count it twice.
    _stop_while_paused(monkeypatch, "popped")


# -- timeouts are seconds, and only sensible ones ---------------------------------------------


def test_idle_timeout_counts_seconds_not_sweeper_wake_ups(monkeypatch: pytest.MonkeyPatch) -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: session.reply("ok"))
    with Runtime(bot, idle_timeout=60, max_live_sessions=1) as rt:
        rt.send_message("alice", "hi").result(TIMEOUT)
        sweeper = rt.backend._sweeper  # type: ignore[attr-defined]
        sweeps = threading.Semaphore(0)
        real_sweep = type(sweeper).sweep

        def sweep_and_count(self: Any) -> int:
            asked: int = real_sweep(self)
            sweeps.release()
            return asked

        asked: list[str] = []
        real_request = sweeper._request

        def request(cell: Any) -> None:
            asked.append(cell.id)
            real_request(cell)

        monkeypatch.setattr(type(sweeper), "sweep", sweep_and_count)
        monkeypatch.setattr(sweeper, "_request", request)
        # Far more wake-ups than idle_timeout / interval (60), all within a few milliseconds:
        # what sessions activating past max_live_sessions do to the sweeper.
        for _ in range(100):
            sweeper.wake(2)
            assert sweeps.acquire(timeout=TIMEOUT)
        assert asked == []
        assert rt.stats().sessions_live == 1
        assert rt.stats().passivations == 0


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=repr)
@pytest.mark.parametrize("option", ["idle_timeout", "drain_timeout", "turn_timeout"])
def test_a_runtime_refuses_a_timeout_option_that_is_not_finite(option: str, value: float) -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True)
    options: dict[str, Any] = {option: value}
    with pytest.raises(ValueError, match=option):
        Runtime(bot, **options)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0], ids=repr)
def test_stop_refuses_a_bad_timeout_at_once_and_changes_nothing(
    blocker: Blocker, timeout: float
) -> None:
    rt = Runtime(blocker.bot).start()
    waiting = rt.send_message("u", "wait")
    assert blocker.entered.wait(TIMEOUT)
    with pytest.raises(ValueError, match="timeout"):
        rt.stop(timeout=timeout)  # while a body runs: a NaN deadline used to spin forever
    assert rt.running
    blocker.gate.set()
    assert waiting.result(TIMEOUT) == ["welcome", "waited"]
    assert rt.send_message("u", "more").result(TIMEOUT) == ["got more"]
    assert rt.stop() is True
    assert not rt.running


@pytest.mark.parametrize("timeout", [math.nan, math.inf], ids=repr)
def test_snapshot_refuses_a_timeout_that_is_not_finite(timeout: float) -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: session.reply("ok"))
    with Runtime(bot) as rt:
        rt.send_message("u", "hi").result(TIMEOUT)
        with pytest.raises(ValueError, match="timeout"):
            rt.snapshot("u", timeout=timeout)
        assert rt.snapshot("u") is not None


def test_a_stop_timeout_longer_than_the_platform_can_wait_leaves_no_thread_running() -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: session.reply("ok"))
    before = set(threading.enumerate())
    rt = Runtime(bot).start()
    rt.send_message("u", "hi").result(TIMEOUT)
    threads = runtime_threads(before)
    assert threads
    too_long = threading.TIMEOUT_MAX * 2  # finite, but no lock can wait that long
    with contextlib.suppress(ValueError):  # refusing it (and changing nothing) is fine
        rt.stop(timeout=too_long)
    rt.stop()
    assert not rt.running
    assert join_all(threads) == []


def test_a_runtime_dropped_without_stop_ends_its_threads() -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True).set_fallback_body(lambda session: session.reply("ok"))
    before = set(threading.enumerate())
    rt = Runtime(bot, idle_timeout=60).start()
    replies = rt.send_message("u", "hi").result(TIMEOUT)
    assert replies == ["ok"]
    threads = runtime_threads(before)
    kinds = {match["kind"] for t in threads if (match := _RUNTIME_THREAD.fullmatch(t.name))}
    assert {"worker", "monitor"} <= kinds
    del rt
    gc.collect()
    assert join_all(threads) == []
