"""Failure paths: interrupted stores, stop() racing forget, commits and callbacks, lost counts.

Each test is the regression test of one reviewer finding (the number in its section title):

1. a store's load, save or delete raising a BaseException (``asyncio.CancelledError``,
   ``KeyboardInterrupt``) is a store failure: ``StoreError``, the session intact, no actor of
   the process stopped, and ``stop()`` still ends every thread;
2. a forget that resolved True is not undone by a ``stop()`` that ran while it deleted;
3. a record loaded from a durable store is never the live session's record;
4. futures cancelled while queued are counted as settled whoever fails the rest;
5. a slow value copy at commit does not hold up ``stop(timeout)``;
6. closing an inbox never hands back a message its worker also took;
8. a rollback whose data copy fails leaves no field of the failed turn;
9. ``stop()`` from a reply future's done-callback does not wait for its own event;
10. a turn failed by ``stop()`` as its actor marks it running logs nothing critical.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from runtime import (
    Bot,
    Event,
    MemoryStore,
    Runtime,
    RuntimeState,
    RuntimeStoppedError,
    Session,
    SessionCrashedError,
    SessionValueError,
    StoreError,
    TurnTimeoutError,
)
from runtime._future import ReplyFuture
from runtime.actors import Dispatcher, PooledActor, PooledInbox
from runtime.engine import Engine
from runtime.session import SessionData
from runtime.testing import FlakyStore
from runtime.turn import SessionTurns

TIMEOUT = 10

Replies = concurrent.futures.Future[list[str]]

# runtime-N-worker-K, runtime-N-monitor (the dispatcher's), runtime-sweeper
_RUNTIME_THREAD = re.compile(r"runtime-(?:\d+-)?(?:worker|monitor|sweeper)(?:-\d+)?")

INTERRUPTIONS = [asyncio.CancelledError, KeyboardInterrupt]


# -- helpers --------------------------------------------------------------------------------


def counter_bot(body: Callable[[Session], None] | None = None) -> Bot:
    """A bot that welcomes, then counts: message "x" replies "x:N" and sets ``n`` to N."""
    bot = Bot("failure-paths")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply("welcome"))

    def count(session: Session) -> None:
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.message}:{session.get('n')}")

    state.set_fallback_body(body or count)
    return bot


def user_texts(history: Any) -> list[str]:
    return [text for text, sender in history if sender == 1]


class InterruptingStore(MemoryStore):
    """A MemoryStore whose load, save or delete raises a given exception type on demand."""

    def __init__(self) -> None:
        super().__init__()
        self._plan: dict[str, tuple[type[BaseException], int | None]] = {}
        self._lock = threading.Lock()
        self.raised: list[BaseException] = []  # every exception raised, in order

    def interrupt(
        self, operation: str, exc_type: type[BaseException], times: int | None = 1
    ) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``exc_type`` (None: all)."""
        with self._lock:
            self._plan[operation] = (exc_type, times)

    def _check(self, operation: str) -> None:
        with self._lock:
            planned = self._plan.get(operation)
            if planned is None:
                return
            exc_type, left = planned
            if left is not None:
                if left <= 1:
                    del self._plan[operation]
                else:
                    self._plan[operation] = (exc_type, left - 1)
            exc = exc_type()
            self.raised.append(exc)
        raise exc

    def load(self, session_id: str) -> SessionData | None:
        self._check("load")
        return super().load(session_id)

    def save(self, data: SessionData) -> None:
        self._check("save")
        super().save(data)

    def delete(self, session_id: str) -> None:
        self._check("delete")
        super().delete(session_id)


class Bystander(pykka.ThreadingActor):
    """An unrelated pykka actor of the same process: no session's failure may stop it."""

    def on_receive(self, message: Any) -> Any:
        return message


@pytest.fixture
def bystander() -> Iterator[pykka.ActorRef[Bystander]]:
    ref = Bystander.start()
    yield ref
    ref.stop(block=False)  # (the conftest stops every pykka actor after each test anyway)


def assert_alive(ref: pykka.ActorRef[Bystander]) -> None:
    # pykka stops actors with a message: ask after it, so a stop already sent is seen here.
    assert ref.ask("ping", timeout=TIMEOUT) == "ping"
    assert ref.is_alive()


class Blocker:
    """A bot whose message "wait" changes every part of the session, then blocks on ``gate``.

    The initial body sets ``items`` to ``[]``; "wait" appends to it in place, sets ``n``,
    replies, records its thread and blocks; any other message replies "got TEXT".
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.threads: list[threading.Thread] = []
        self.bot = Bot("blocker")
        state = self.bot.new_state("s", initial=True)
        state.set_body(self.welcome)
        state.set_fallback_body(self.body)

    def welcome(self, session: Session) -> None:
        session.set("items", [])
        session.reply("welcome")

    def body(self, session: Session) -> None:
        text = session.message or ""
        if text == "wait":
            self.threads.append(threading.current_thread())
            session.get("items").append("x")
            session.set("n", 1)
            session.reply("waited")
            self.entered.set()
            self.gate.wait(TIMEOUT)
        else:
            session.reply(f"got {text}")


@pytest.fixture
def blocker() -> Iterator[Blocker]:
    blocker = Blocker()
    yield blocker
    blocker.gate.set()  # never leave a body blocked behind a failed test


def runtime_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The runtime threads (workers, monitor, sweeper) alive now and not in ``before``."""
    return [
        t for t in threading.enumerate() if t not in before and _RUNTIME_THREAD.fullmatch(t.name)
    ]


def join_all(threads: list[threading.Thread], timeout: float = TIMEOUT) -> list[str]:
    """Wait (up to ``timeout`` in all) for ``threads`` to end; return the names still alive."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threads if t.is_alive()]


def assert_counts_add_up(rt: Runtime) -> None:
    stats = rt.stats()
    assert stats.events_pending == 0, stats
    assert stats.events_accepted == (
        stats.events_processed + stats.events_failed + stats.events_pending
    ), stats


# -- 1. a store interrupted by a BaseException is a store failure ---------------------------


@pytest.mark.parametrize("interruption", INTERRUPTIONS, ids=lambda exc: exc.__name__)
def test_an_interrupted_load_fails_the_event_with_store_error_and_the_next_event_loads_again(
    interruption: type[BaseException], bystander: pykka.ActorRef[Bystander]
) -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        assert rt.passivate("a").result(TIMEOUT) is True
        store.interrupt("load", interruption)
        with pytest.raises(StoreError) as failure:
            rt.send_message("a", "lost").result(TIMEOUT)
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]
        assert_alive(bystander)
        assert_counts_add_up(rt)


@pytest.mark.parametrize("interruption", INTERRUPTIONS, ids=lambda exc: exc.__name__)
def test_an_interrupted_save_fails_the_passivation_with_store_error_and_keeps_the_session_live(
    interruption: type[BaseException], bystander: pykka.ActorRef[Bystander]
) -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        store.interrupt("save", interruption)
        with pytest.raises(StoreError) as failure:
            rt.passivate("a").result(TIMEOUT)
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        stats = rt.stats()
        assert (stats.sessions_live, stats.store_errors) == (1, 1)
        snap = rt.snapshot("a")
        assert snap is not None
        assert dict(snap.data) == {"n": 1}
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]
        assert rt.passivate("a").result(TIMEOUT) is True  # the next passivation tries again
        stored = store.load("a")
        assert stored is not None
        assert stored.data == {"n": 2}
        assert_alive(bystander)


@pytest.mark.parametrize("interruption", INTERRUPTIONS, ids=lambda exc: exc.__name__)
def test_an_interrupted_delete_fails_forget_with_store_error_and_keeps_the_session(
    interruption: type[BaseException], bystander: pykka.ActorRef[Bystander]
) -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        store.interrupt("delete", interruption)
        with pytest.raises(StoreError) as failure:
            rt.forget("a").result(TIMEOUT)
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        assert rt.stats().sessions_live == 1
        snap = rt.snapshot("a")
        assert snap is not None
        assert dict(snap.data) == {"n": 1}
        assert user_texts(snap.chat_history) == ["x"]
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]
        assert rt.forget("a").result(TIMEOUT) is True  # the next forget deletes it
        assert_alive(bystander)


@pytest.mark.parametrize("interruption", INTERRUPTIONS, ids=lambda exc: exc.__name__)
def test_forgetting_a_stored_session_whose_load_is_interrupted_fails_with_store_error(
    interruption: type[BaseException], bystander: pykka.ActorRef[Bystander]
) -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        assert rt.passivate("a").result(TIMEOUT) is True
        store.interrupt("load", interruption)
        with pytest.raises(StoreError) as failure:
            rt.forget("a").result(TIMEOUT)
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        stored = store.load("a")
        assert stored is not None
        assert stored.data == {"n": 1}
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]
        assert_alive(bystander)


# The next two load on the caller's thread: only CancelledError, as a KeyboardInterrupt that
# escaped there would end the test run instead of failing the test.


def test_passivating_a_stored_session_whose_load_is_cancelled_fails_with_store_error() -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        assert rt.passivate("a").result(TIMEOUT) is True
        store.interrupt("load", asyncio.CancelledError)
        future = rt.passivate("a")
        with pytest.raises(StoreError) as failure:
            future.result(TIMEOUT)
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]


def test_a_snapshot_of_a_stored_session_whose_load_is_cancelled_raises_store_error() -> None:
    store = InterruptingStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        assert rt.passivate("a").result(TIMEOUT) is True
        store.interrupt("load", asyncio.CancelledError)
        with pytest.raises(StoreError) as failure:
            rt.snapshot("a")
        [raised] = store.raised
        assert failure.value.__cause__ is raised
        snap = rt.snapshot("a")
        assert snap is not None
        assert dict(snap.data) == {"n": 1}


def test_stop_with_a_save_that_is_cancelled_ends_every_thread_then_raises_store_error(
    bystander: pykka.ActorRef[Bystander],
) -> None:
    before = set(threading.enumerate())
    store = InterruptingStore()
    rt = Runtime(counter_bot(), store=store).start()
    assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
    assert rt.send_message("b", "x").result(TIMEOUT) == ["welcome", "x:1"]
    store.interrupt("save", asyncio.CancelledError, times=None)
    with pytest.raises(StoreError):
        rt.stop(timeout=TIMEOUT)
    assert rt.state is RuntimeState.STOPPED
    assert len(store.raised) == 2  # both sessions were tried
    assert join_all(runtime_threads(before)) == []
    assert rt.stop() is True  # a second stop() is quiet
    assert_alive(bystander)


# -- 2. forget() racing stop() --------------------------------------------------------------


class DeleteGateStore(MemoryStore):
    """A MemoryStore whose delete blocks until released.

    A save made while a delete is blocked releases it and waits for it to finish first: the
    order in which a stop() that saved a session being forgotten brought it back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.deleting = threading.Event()  # a delete started
        self.release = threading.Event()  # let the delete go on
        self.deleted = threading.Event()  # a delete finished

    def delete(self, session_id: str) -> None:
        self.deleting.set()
        self.release.wait(TIMEOUT / 2)
        super().delete(session_id)
        self.deleted.set()

    def save(self, data: SessionData) -> None:
        if self.deleting.is_set():
            self.release.set()
            self.deleted.wait(TIMEOUT / 2)
        super().save(data)


def test_a_forget_that_resolves_true_while_stop_runs_leaves_the_session_out_of_the_store() -> None:
    store = DeleteGateStore()
    rt = Runtime(counter_bot(), store=store).start()
    assert rt.send_message("a", "secret").result(TIMEOUT) == ["welcome", "secret:1"]
    forgotten = rt.forget("a")
    assert store.deleting.wait(TIMEOUT)
    try:
        rt.stop(timeout=1)
    finally:
        store.release.set()
    try:
        existed = forgotten.result(TIMEOUT)
    except (RuntimeStoppedError, StoreError):
        # Not forgotten: then the session must be intact in the store.
        record = store.load("a")
        assert record is not None
        assert record.data == {"n": 1}
        assert user_texts(record.chat_history) == ["secret"]
    else:
        assert existed is True
        assert store.load("a") is None


# -- 3. a durable store's record is never the live session's ------------------------------


def stored_state(store: FlakyStore, session_id: str) -> tuple[Any, ...]:
    record = store.load(session_id)
    assert record is not None
    return (record.state, copy.deepcopy(record.data), list(record.chat_history))


def test_a_turn_failed_by_stop_changes_no_durable_record_and_a_new_runtime_sees_committed_data(
    blocker: Blocker,
) -> None:
    store = FlakyStore(durable=True)
    rt = Runtime(blocker.bot, store=store).start()
    assert rt.open_session("u").result(TIMEOUT) == ["welcome"]
    assert rt.passivate("u").result(TIMEOUT) is True  # the next event loads it from the store
    committed = stored_state(store, "u")
    assert committed == ("s", {"items": []}, [("welcome", 0)])
    working = rt.send_message("u", "wait")
    assert blocker.entered.wait(TIMEOUT)
    assert rt.stop(timeout=0) is False
    with pytest.raises(RuntimeStoppedError):
        working.result(0)
    # The body is still blocked: its uncommitted changes must not be in the store...
    assert stored_state(store, "u") == committed
    # ...nor seen by another runtime on the same store.
    with Runtime(blocker.bot, store=store) as again:
        snap = again.snapshot("u")
        assert snap is not None
        assert (snap.state, dict(snap.data), list(snap.chat_history)) == committed
    blocker.gate.set()
    [worker] = blocker.threads
    worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert stored_state(store, "u") == committed


# -- 4. cancelled futures are counted as settled ------------------------------------------


def test_futures_cancelled_while_queued_count_as_settled_when_stop_fails_what_is_left(
    blocker: Blocker,
) -> None:
    rt = Runtime(blocker.bot).start()
    assert rt.open_session("u").result(TIMEOUT) == ["welcome"]
    working = rt.send_message("u", "wait")
    assert blocker.entered.wait(TIMEOUT)
    queued = [rt.send_message("u", f"q{i}") for i in range(50)]
    assert all(future.cancel() for future in queued)
    assert rt.stop(timeout=0) is False
    with pytest.raises(RuntimeStoppedError):
        working.result(0)
    assert_counts_add_up(rt)


class GatedFailingLoadStore(MemoryStore):
    """A MemoryStore whose first load blocks until released, then fails."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = threading.Event()
        self.release = threading.Event()
        self._failed = False

    def load(self, session_id: str) -> SessionData | None:
        if not self._failed:
            self._failed = True
            self.loading.set()
            self.release.wait(TIMEOUT)
            raise OSError("injected load failure")
        return super().load(session_id)


def test_futures_cancelled_while_queued_count_as_settled_when_their_sessions_load_fails() -> None:
    store = GatedFailingLoadStore()
    with Runtime(counter_bot(), store=store) as rt:
        first = rt.send_message("a", "x")
        assert store.loading.wait(TIMEOUT)  # the session's actor is loading it: events queue
        queued = [first] + [rt.send_message("a", f"q{i}") for i in range(50)]
        assert all(future.cancel() for future in queued)
        last = rt.send_message("a", "last")  # failed after every cancelled one
        store.release.set()
        with pytest.raises(StoreError):
            last.result(TIMEOUT)
        assert_counts_add_up(rt)
        assert rt.send_message("a", "y").result(TIMEOUT) == ["welcome", "y:1"]


# -- 5. a slow value copy at commit ------------------------------------------------------


def test_a_slow_value_copy_at_commit_does_not_hold_up_stop_and_every_future_settles() -> None:
    copying, release = threading.Event(), threading.Event()

    class SlowToCopy:
        def __deepcopy__(self, memo: dict[int, Any]) -> SlowToCopy:
            copying.set()
            release.wait(TIMEOUT)
            return SlowToCopy()

    def body(session: Session) -> None:
        if session.message == "slow":
            session.set("v", SlowToCopy())
        session.reply("ok")

    rt = Runtime(counter_bot(body), turn_timeout=0.2).start()
    assert rt.send_message("a", "hi").result(TIMEOUT) == ["welcome", "ok"]
    slow = rt.send_message("a", "slow")
    behind = rt.send_message("a", "after")
    assert copying.wait(TIMEOUT)
    safety = threading.Timer(5, release.set)  # ends the copy if stop() waits for it
    safety.start()
    try:
        rt.stop(timeout=0.2)
        returned_before_release = not release.is_set()
    finally:
        release.set()
        safety.cancel()
    assert returned_before_release, "stop(timeout=0.2) waited for the value copy"
    error = slow.exception(TIMEOUT)  # committed (None) or failed, but settled
    assert error is None or isinstance(error, TurnTimeoutError | RuntimeStoppedError), error
    assert isinstance(behind.exception(TIMEOUT), RuntimeStoppedError)
    assert_counts_add_up(rt)


# -- 6. closing an inbox while its worker pops ------------------------------------------


class Recorder(PooledActor):
    """Records every message it handles; the message 0 blocks until ``go``."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        inbox: PooledInbox,
        handled: list[Any],
        started: threading.Event,
        go: threading.Event,
    ) -> None:
        super().__init__(dispatcher=dispatcher, inbox=inbox)
        self.handled = handled
        self.started = started
        self.go = go

    def on_receive(self, message: Any) -> None:
        if message == 0:
            self.started.set()
            self.go.wait(TIMEOUT)
        self.handled.append(message)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so close() meets the worker."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_closing_an_inbox_while_its_worker_pops_hands_back_only_messages_it_did_not_pop() -> None:
    # Not forced: close() copies the queue, and the worker, running again, may pop some of it
    # before close() clears it. With a long queue this happens in about half the trials here.
    messages = 10_000
    for _trial in range(100):
        dispatcher = Dispatcher(workers=1, max_workers=1, slice_budget=messages * 2)
        dispatcher.start()
        inbox = PooledInbox()
        handled: list[Any] = []
        started, go = threading.Event(), threading.Event()
        Recorder.start(dispatcher=dispatcher, inbox=inbox, handled=handled, started=started, go=go)
        try:
            inbox.tell(0)
            assert started.wait(TIMEOUT)
            for message in range(1, messages):
                inbox.tell(message)
            go.set()  # the worker pops again while close() runs
            returned = inbox.close()
        finally:
            go.set()
            assert dispatcher.stop(timeout=TIMEOUT)
        both = sorted(set(handled) & set(returned))
        assert both == [], f"{len(both)} messages were both handled and handed back"
        assert sorted(handled + returned) == list(range(messages))


# -- 8. a rollback is all or nothing ---------------------------------------------------------


class CopyFailsOnceArmed:
    """A value whose next deep copy fails once ``armed`` is set (shared by all its copies)."""

    def __init__(self, armed: threading.Event) -> None:
        self.armed = armed

    def __deepcopy__(self, memo: dict[int, Any]) -> CopyFailsOnceArmed:
        if self.armed.is_set():
            self.armed.clear()
            raise RuntimeError("copy failed once")
        return CopyFailsOnceArmed(self.armed)


def crashing_bot(armed: threading.Event) -> Bot:
    """A bot whose "init" stores a CopyFailsOnceArmed; "crash" sets ``x``, replies, exits."""

    def body(session: Session) -> None:
        if session.message == "init":
            session.set("v", CopyFailsOnceArmed(armed))
        elif session.message == "crash":
            session.set("x", 1)
            session.reply("partial")
            raise SystemExit(1)
        session.reply("ok")

    return counter_bot(body)


def record_fields(record: SessionData) -> tuple[Any, ...]:
    return (
        record.state,
        sorted(record.data),
        list(record.chat_history),
        record.predicted_intent,
        record.file,
        record.message,
    )


def test_a_rollback_whose_data_copy_fails_leaves_no_field_of_the_failed_turn() -> None:
    armed = threading.Event()
    bot = crashing_bot(armed)
    bot.freeze()
    turns = SessionTurns(Engine(bot), SessionData("u"))
    assert turns.run(Event.message("u", "init")).replies == ["welcome", "ok"]
    committed = record_fields(turns.record)
    assert committed[1] == ["v"]
    armed.set()  # the rollback's copy of the committed data fails
    with pytest.raises((SystemExit, SessionValueError)):
        turns.execute(Event.message("u", "crash"))
    armed.clear()
    assert record_fields(turns.record) == committed
    assert turns.run(Event.message("u", "look")).replies == ["ok"]
    assert sorted(turns.record.data) == ["v"]
    assert user_texts(turns.record.chat_history) == ["init", "look"]


def test_a_crashed_turn_whose_rollback_copy_fails_leaves_nothing_in_the_session() -> None:
    armed = threading.Event()
    with Runtime(crashing_bot(armed)) as rt:
        assert rt.send_message("a", "init").result(TIMEOUT) == ["welcome", "ok"]
        armed.set()
        with pytest.raises((SessionCrashedError, SessionValueError)):
            rt.send_message("a", "crash").result(TIMEOUT)
        armed.clear()
        assert rt.send_message("a", "look").result(TIMEOUT) == ["ok"]
        snap = rt.snapshot("a")
        assert snap is not None
        assert sorted(snap.data) == ["v"]
        assert list(snap.chat_history) == [
            ("welcome", 0),
            ("init", 1),
            ("ok", 0),
            ("look", 1),
            ("ok", 0),
        ]


# -- 9. stop() from a done-callback ---------------------------------------------------------


def test_stop_from_a_reply_futures_done_callback_returns_without_waiting_its_drain_timeout() -> (
    None
):
    attached = threading.Event()

    def body(session: Session) -> None:
        attached.wait(TIMEOUT)  # resolve only once the callback is attached
        session.reply("ok")

    rt = Runtime(counter_bot(body), drain_timeout=30).start()
    results: list[object] = []
    threads: list[threading.Thread] = []
    done = threading.Event()

    def stop_from_callback(future: Replies) -> None:
        threads.append(threading.current_thread())
        try:
            results.append(rt.stop())
        except BaseException as exc:
            results.append(exc)
        finally:
            done.set()

    future = rt.send_message("a", "x")
    future.add_done_callback(stop_from_callback)
    attached.set()
    assert done.wait(TIMEOUT), "stop() in the done-callback waited for its drain_timeout"
    assert results == [True]
    [thread] = threads
    assert thread is not threading.current_thread()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert future.result(0) == ["welcome", "ok"]


# -- 10. nothing critical when stop() fails a turn as its actor marks it running --------------


def test_stop_failing_a_turn_its_actor_is_marking_running_logs_nothing_critical(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="concurrent.futures")
    armed = threading.Event()
    reached = threading.Event()  # the actor paused before marking it running, or it settled
    paused = threading.Event()  # the actor paused before marking it running
    settled = threading.Event()  # the paused turn's future settled
    marked = threading.Event()  # the actor marked it running (or tried), after the pause
    real = ReplyFuture.set_running_or_notify_cancel

    def pause_then_mark_running(self: ReplyFuture[Any]) -> bool:
        if not armed.is_set():
            return real(self)
        armed.clear()
        paused.set()
        reached.set()
        settled.wait(5)  # stop() fails it meanwhile (bounded: a lock may keep stop() out)
        try:
            return real(self)
        finally:
            marked.set()

    monkeypatch.setattr(ReplyFuture, "set_running_or_notify_cancel", pause_then_mark_running)
    rt = Runtime(counter_bot()).start()
    assert rt.open_session("u").result(TIMEOUT) == ["welcome"]
    armed.set()
    first = rt.send_message("u", "first")

    def on_settled(future: Replies) -> None:
        settled.set()
        reached.set()

    first.add_done_callback(on_settled)
    queued = [rt.send_message("u", f"q{i}") for i in range(50)]
    assert reached.wait(TIMEOUT)
    rt.stop(timeout=0)
    if paused.is_set():
        assert marked.wait(TIMEOUT)
    for future in [first, *queued]:
        future.exception(TIMEOUT)  # settled, whichever way
    critical = [
        record.getMessage()
        for record in caplog.records
        if record.name == "concurrent.futures" and record.levelno >= logging.CRITICAL
    ]
    assert critical == []
    assert_counts_add_up(rt)
