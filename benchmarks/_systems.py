"""The systems under test, behind one small interface, all running the same bot logic.

Every system runs the greetings bot's turns with ``Engine.run_turn`` on one ``Session`` per
user; they differ only in how events reach the sessions and how turns are scheduled:

- ``ours``: ``runtime.Runtime`` (pooled session actors on a small elastic thread pool);
- ``direct`` (a): the caller's thread runs each turn at once; no actors, no queues, no other
  threads. The limit for one process; only one sender can use it;
- ``pykka`` (b): one ``pykka.ThreadingActor`` (one OS thread) per session, ``ask(block=False)``;
- ``asyncio`` (c): one event loop thread, one ``asyncio.Queue`` and one task per session;
  sender *threads* hand events over with ``loop.call_soon_threadsafe`` and wait on a
  ``concurrent.futures.Future``;
- ``threadpool`` (d): a ``ThreadPoolExecutor`` of ``THREADPOOL_WORKERS`` threads and one
  ``threading.Lock`` per session; each event is ``pool.submit(handle, session_id, text)``.
  This design does NOT keep one session's events in order: two queued events of a session
  may take the lock in either order. Closed-loop workloads never queue two events of one user,
  so it cannot show there; the open loop (W2) would, so W2 skips it (``keeps_order``);
- ``handoff`` (e): the floor of handing each event on its own to another thread: one worker
  thread takes ``(session, text, reply slot)`` from a ``queue.SimpleQueue`` and runs the turn;
  the sender waits on a bare lock per event (the cheapest cross-thread wait CPython has). One
  worker keeps every session's events in order; there are no counters, no bounds, no rollback,
  no stop. Its events/s over the direct loop's is what a design that hands each event to a
  worker thread and answers its sender from there keeps at best, under the same four senders
  as the others (issue #12 asks for the hand-off's cost measured on its own).

Interface: ``open(n_sessions)``, ``submit(session_id, text, on_done=None) -> handle``,
``wait(handles) -> list[list[str]]``, ``close()``. ``on_done``, if given, is called once, in
any thread, with the event's replies (or the exception that failed it) as soon as they are
ready; the open-loop driver uses it to timestamp replies without keeping handles alive (25k
live futures are 300k objects for the cyclic GC to scan: 60 ms pauses that are the harness's,
not the system's). Sessions are created on their first event in every system.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pykka

from benchmarks._bots import greetings_bot
from runtime import Bot, Runtime
from runtime.engine import Engine, TurnKind
from runtime.session import Session, SessionData

__all__ = [
    "PYKKA_MAX_SESSIONS",
    "SYSTEMS",
    "THREADPOOL_WORKERS",
    "WAIT_TIMEOUT",
    "OnDone",
    "System",
    "make_system",
]

OnDone = Callable[[Any], None]  # called with the replies (list[str]) or an exception

#: Seconds a harness waits for one reply before declaring the system stuck.
WAIT_TIMEOUT = 120.0
#: One OS thread per pykka actor: ~22k is this machine's ceiling, so stay well below it.
PYKKA_MAX_SESSIONS = 10_000
THREADPOOL_WORKERS = 8

_MESSAGE = TurnKind.MESSAGE


class System:
    """A way to run the bot's turns for many sessions (see the module docstring)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: The most sender threads that may call ``submit`` at once (None: any number).
    max_senders: ClassVar[int | None] = None
    #: Whether one session's queued events run in the order they were sent. A system that
    #: does not keep it gives wrong replies under an open loop (W2), which then skips it.
    keeps_order: ClassVar[bool] = True

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def skip_reason(self, n_sessions: int) -> str | None:
        """Return why this system cannot hold ``n_sessions`` sessions, or None if it can."""
        del n_sessions
        return None

    def open(self, n_sessions: int) -> None:
        """Get ready to serve up to ``n_sessions`` sessions."""
        raise NotImplementedError

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        """Send one user message; return a handle to pass to :meth:`wait`."""
        raise NotImplementedError

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        """Return the replies of each handle, in order, waiting as needed."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop every thread and actor this system started."""

    def _engine(self) -> Engine:
        self.bot.freeze()
        return Engine(self.bot)


def _results(handles: Sequence[concurrent.futures.Future[list[str]]]) -> list[list[str]]:
    return [handle.result(WAIT_TIMEOUT) for handle in handles]


def _relay(on_done: OnDone) -> Callable[[concurrent.futures.Future[list[str]]], None]:
    """Adapt ``on_done`` to ``Future.add_done_callback``."""

    def relay(future: concurrent.futures.Future[list[str]]) -> None:
        exc = future.exception()
        on_done(exc if exc is not None else future.result())

    return relay


class OursSystem(System):
    """``runtime.Runtime``; ``runtime_options`` go to its constructor."""

    name = "ours"
    label = "ours (Runtime)"

    def __init__(self, bot: Bot, **runtime_options: Any) -> None:
        super().__init__(bot)
        self.runtime = Runtime(bot, **runtime_options)

    def open(self, n_sessions: int) -> None:
        self.runtime.start()
        self._send = self.runtime.send_message

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        future = self._send(session_id, text)
        if on_done is not None:
            future.add_done_callback(_relay(on_done))
        return future

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return _results(handles)

    def close(self) -> None:
        self.runtime.stop()


class DirectSystem(System):
    """(a) The caller's thread runs every turn at once: the limit for one process."""

    name = "direct"
    label = "(a) direct loop"
    max_senders = 1

    def open(self, n_sessions: int) -> None:
        engine = self._engine()
        self._run_turn = engine.run_turn
        self._sessions: dict[str, Session] = {}

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = Session(SessionData(session_id), self.bot)
        if on_done is None:
            return self._run_turn(session, _MESSAGE, text).replies
        try:
            replies = self._run_turn(session, _MESSAGE, text).replies
        except Exception as exc:
            on_done(exc)
            raise
        on_done(replies)
        return replies

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return list(handles)


class _PykkaSession(pykka.ThreadingActor):
    # Daemon threads: a benchmark that failed half-way must not keep the process alive.
    use_daemon_thread = True

    def __init__(self, engine: Engine, session_id: str) -> None:
        super().__init__()
        self._run_turn = engine.run_turn
        self._session = Session(SessionData(session_id), engine.bot)

    def on_receive(self, message: Any) -> Any:
        text, on_done = message
        if on_done is None:
            return self._run_turn(self._session, _MESSAGE, text).replies
        try:
            replies = self._run_turn(self._session, _MESSAGE, text).replies
        except Exception as exc:  # the ask's future gets it too, as pykka does
            on_done(exc)
            raise
        on_done(replies)
        return replies


class PykkaSystem(System):
    """(b) One pykka ThreadingActor (one OS thread) per session."""

    name = "pykka"
    label = "(b) pykka actor/session"

    def skip_reason(self, n_sessions: int) -> str | None:
        if n_sessions > PYKKA_MAX_SESSIONS:
            return (
                f"skipped: thread limit (one OS thread per actor; {n_sessions} sessions > "
                f"{PYKKA_MAX_SESSIONS}, the machine tops out near 22k threads)"
            )
        return None

    def open(self, n_sessions: int) -> None:
        self._engine_ = self._engine()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()

    def _start(self, session_id: str) -> pykka.ActorRef[Any]:
        with self._lock:
            ref = self._refs.get(session_id)
            if ref is None:
                ref = self._refs[session_id] = _PykkaSession.start(self._engine_, session_id)
            return ref

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        ref = self._refs.get(session_id) or self._start(session_id)
        return ref.ask((text, on_done), block=False)

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return [handle.get(timeout=WAIT_TIMEOUT) for handle in handles]

    def close(self) -> None:
        stops = [ref.stop(block=False) for ref in self._refs.values()]
        for stop in stops:
            with contextlib.suppress(Exception):  # already dead: nothing to stop
                stop.get(timeout=WAIT_TIMEOUT)
        self._refs.clear()


class AsyncioSystem(System):
    """(c) One event loop thread; one asyncio.Queue and one task per session."""

    name = "asyncio"
    label = "(c) asyncio task/session"

    def open(self, n_sessions: int) -> None:
        self._run_turn = self._engine().run_turn
        self._loop = asyncio.new_event_loop()
        self._queues: dict[str, asyncio.Queue[tuple[str, concurrent.futures.Future[Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="bench-asyncio", daemon=True
        )
        self._thread.start()
        self._call = self._loop.call_soon_threadsafe

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
        if on_done is not None:
            future.add_done_callback(_relay(on_done))
        self._call(self._deliver, session_id, text, future)
        return future

    def _deliver(
        self, session_id: str, text: str, future: concurrent.futures.Future[Any]
    ) -> None:  # on the loop
        inbox = self._queues.get(session_id)
        if inbox is None:
            inbox = self._queues[session_id] = asyncio.Queue()
            session = Session(SessionData(session_id), self.bot)
            self._tasks.add(self._loop.create_task(self._serve(session, inbox)))
        inbox.put_nowait((text, future))

    async def _serve(
        self, session: Session, inbox: asyncio.Queue[tuple[str, concurrent.futures.Future[Any]]]
    ) -> None:
        run_turn = self._run_turn
        while True:
            text, future = await inbox.get()
            try:
                replies = run_turn(session, _MESSAGE, text).replies
            except Exception as exc:  # report it through the future, keep the session going
                future.set_exception(exc)
            else:
                future.set_result(replies)

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return _results(handles)

    def close(self) -> None:
        async def shutdown() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(WAIT_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_TIMEOUT)
        self._loop.close()


class ThreadPoolSystem(System):
    """(d) A thread pool and one lock per session (no per-session FIFO guarantee)."""

    name = "threadpool"
    label = f"(d) threadpool({THREADPOOL_WORKERS})+locks"
    keeps_order = False  # two queued events of a session may take its lock in either order

    def open(self, n_sessions: int) -> None:
        self._run_turn = self._engine().run_turn
        self._entries: dict[str, tuple[threading.Lock, Session]] = {}
        self._create_lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADPOOL_WORKERS, thread_name_prefix="bench-pool"
        )

    def _entry(self, session_id: str) -> tuple[threading.Lock, Session]:
        with self._create_lock:
            entry = self._entries.get(session_id)
            if entry is None:
                session = Session(SessionData(session_id), self.bot)
                entry = self._entries[session_id] = (threading.Lock(), session)
            return entry

    def _handle(self, session_id: str, text: str) -> list[str]:
        lock, session = self._entries.get(session_id) or self._entry(session_id)
        with lock:
            return self._run_turn(session, _MESSAGE, text).replies

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        future = self._pool.submit(self._handle, session_id, text)
        if on_done is not None:
            future.add_done_callback(_relay(on_done))
        return future

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return _results(handles)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Reply:
    """One event's reply slot: a lock held until the worker has put the outcome in."""

    __slots__ = ("done", "error", "replies")

    def __init__(self) -> None:
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.replies: list[str] | None = None
        self.error: BaseException | None = None

    def get(self) -> list[str]:
        if not self.done.acquire(timeout=WAIT_TIMEOUT):
            raise TimeoutError(f"no reply within {WAIT_TIMEOUT} s")
        self.done.release()  # settled for good: a second get() returns at once too
        if self.error is not None:
            raise self.error
        assert self.replies is not None
        return self.replies


class HandoffSystem(System):
    """(e) The hand-off floor: one worker thread, one queue, a bare lock per reply."""

    name = "handoff"
    label = "(e) hand-off floor"

    def open(self, n_sessions: int) -> None:
        self._run_turn = self._engine().run_turn
        self._sessions: dict[str, Session] = {}
        self._queue: queue.SimpleQueue[tuple[str, str, _Reply, OnDone | None] | None] = (
            queue.SimpleQueue()
        )
        self._put = self._queue.put
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="bench-handoff", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        get = self._queue.get
        run_turn = self._run_turn
        sessions = self._sessions
        while (item := get()) is not None:
            session_id, text, reply, on_done = item
            if self._closing:  # what a failed run left queued: fail it, run nothing more
                reply.error = RuntimeError("the system was closed before this event ran")
            else:
                session = sessions.get(session_id)
                if session is None:
                    session = sessions[session_id] = Session(SessionData(session_id), self.bot)
                try:
                    reply.replies = run_turn(session, _MESSAGE, text).replies
                except BaseException as exc:  # handed to the sender, as a Future would
                    reply.error = exc
            try:
                if on_done is not None:
                    on_done(reply.error if reply.error is not None else reply.replies)
            except Exception:  # logged, as concurrent.futures logs a failing callback
                traceback.print_exc()
            finally:
                reply.done.release()

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        reply = _Reply()
        self._put((session_id, text, reply, on_done))
        return reply

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return [reply.get() for reply in handles]

    def close(self) -> None:
        self._closing = True
        self._put(None)
        self._thread.join(WAIT_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"the hand-off worker did not stop within {WAIT_TIMEOUT} s")


SYSTEMS: dict[str, type[System]] = {
    cls.name: cls
    for cls in (
        OursSystem,
        DirectSystem,
        PykkaSystem,
        AsyncioSystem,
        ThreadPoolSystem,
        HandoffSystem,
    )
}


def make_system(name: str, *, blocking: bool = False, **options: Any) -> System:
    """Return a new, unopened system ``name`` serving a fresh copy of the greetings bot.

    Args:
        name: a key of ``SYSTEMS``.
        blocking: serve the variant whose bodies block on slow messages (W4).
        options: constructor options (``ours`` only: passed to ``Runtime``).
    """
    return SYSTEMS[name](greetings_bot(blocking=blocking), **options)
