"""The Runtime facade: the one door through which platforms reach sessions."""

from __future__ import annotations

import concurrent.futures
import threading
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from runtime._future import ReplyFuture
from runtime.actors import Dispatcher, Supervisor, TurnRequest
from runtime.bot import Bot, File
from runtime.engine import DEFAULT_MAX_HOPS, Engine, TurnKind, make_event
from runtime.errors import OverloadedError, RuntimeStoppedError
from runtime.log import get_logger
from runtime.session import SessionSnapshot
from runtime.stats import Counters, RuntimeStats
from runtime.store import MemoryStore, SessionStore

__all__ = ["MAX_SESSION_ID_LENGTH", "Runtime", "live_runtimes"]

MAX_SESSION_ID_LENGTH = 256

Replies = concurrent.futures.Future[list[str]]

# Runtimes started and not yet stopped; lets test suites stop whatever a failed test left.
_LIVE: weakref.WeakSet[Runtime] = weakref.WeakSet()


def live_runtimes() -> list[Runtime]:
    """Return the runtimes started in this process and not stopped yet."""
    return list(_LIVE)


def _check_session_id(session_id: object) -> str:
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, got {type(session_id).__name__}")
    if not session_id:
        raise ValueError("session_id must be a non-empty str")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise ValueError(
            f"session_id must be at most {MAX_SESSION_ID_LENGTH} characters, got {len(session_id)}"
        )
    return session_id


def _check_message_id(message_id: object) -> str | None:
    if message_id is None:
        return None
    if not isinstance(message_id, str) or not message_id:
        raise TypeError(f"message_id must be a non-empty str or None, got {message_id!r}")
    if len(message_id) > MAX_SESSION_ID_LENGTH:
        raise ValueError(f"message_id must be at most {MAX_SESSION_ID_LENGTH} characters")
    return message_id


class Runtime:
    """Serve one bot to many concurrent sessions, each an actor that owns its data.

    Every event method returns a ``concurrent.futures.Future`` that resolves to the replies
    produced while handling that event. An event for an unknown session first opens it, so the
    initial body's replies come first. Events of one session are handled one at a time, in the
    order they were sent; different sessions run concurrently.

    Args:
        bot: the bot to serve; it is frozen when the runtime starts.
        store: where passivated sessions go (None: a new in-memory ``MemoryStore``).
        idle_timeout: passivate a session after this many seconds without events (None:
            never). A passivated session comes back transparently on its next event.
        max_live_sessions: keep about this many session actors live; beyond it the least
            recently used are passivated (down to 90% of it, by a background sweeper).
        max_session_queue: the most events queued for one session; past it the returned
            future fails at once with ``OverloadedError`` and nothing is queued.
        max_pending: the most accepted, unresolved events in the whole runtime (same).
        workers: dispatcher threads kept running (and kept free of blocked bodies).
        max_workers: the most dispatcher threads while bodies block.
        max_hops: the most state moves one event may cause before the chain is cut.
        slice_budget: the most events one session handles before yielding its thread.
        drain_timeout: seconds ``stop()`` waits for accepted events by default.

    Example::

        with Runtime(bot) as rt:
            replies = rt.send_message("alice", "hi").result(timeout=5)
    """

    def __init__(
        self,
        bot: Bot,
        *,
        store: SessionStore | None = None,
        idle_timeout: float | None = None,
        max_live_sessions: int | None = None,
        max_session_queue: int | None = 10_000,
        max_pending: int | None = 1_000_000,
        workers: int = 2,
        max_workers: int = 128,
        max_hops: int = DEFAULT_MAX_HOPS,
        slice_budget: int = 16,
        drain_timeout: float = 5.0,
    ) -> None:
        if not isinstance(bot, Bot):
            raise TypeError(f"Runtime needs a Bot, got {type(bot).__name__}")
        if store is not None and not isinstance(store, SessionStore):
            raise TypeError(
                "store must implement SessionStore (load, save, delete, session_ids, "
                f"__len__, close), got {type(store).__name__}"
            )
        if idle_timeout is not None and (
            not isinstance(idle_timeout, int | float)
            or isinstance(idle_timeout, bool)
            or idle_timeout <= 0
        ):
            raise ValueError(f"idle_timeout must be seconds > 0 or None, got {idle_timeout!r}")
        for arg, bound in (
            ("max_live_sessions", max_live_sessions),
            ("max_session_queue", max_session_queue),
            ("max_pending", max_pending),
        ):
            if bound is not None and (
                not isinstance(bound, int) or isinstance(bound, bool) or bound < 1
            ):
                raise ValueError(f"{arg} must be a positive int or None, got {bound!r}")
        if not isinstance(drain_timeout, int | float) or drain_timeout < 0:
            raise ValueError(f"drain_timeout must be seconds >= 0, got {drain_timeout!r}")
        if not isinstance(max_hops, int) or isinstance(max_hops, bool) or max_hops < 1:
            raise ValueError(f"max_hops must be a positive int, got {max_hops!r}")
        self.bot = bot
        self.store: SessionStore = MemoryStore() if store is None else store
        self._idle_timeout = idle_timeout
        self._max_live_sessions = max_live_sessions
        self._max_session_queue = max_session_queue
        self._max_pending = max_pending
        self._max_hops = max_hops
        self._drain_timeout = float(drain_timeout)
        self._dispatcher = Dispatcher(
            workers=workers, max_workers=max_workers, slice_budget=slice_budget
        )
        self._counters = Counters()
        self._supervisor: Supervisor | None = None
        self._lifecycle = threading.Lock()
        self._stopped = False
        self._log = get_logger(bot=bot.name)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Freeze the bot and start serving.

        Raises:
            BotDefinitionError: the bot has no initial state.
            RuntimeStoppedError: this runtime was stopped (runtimes do not restart).
        """
        with self._lifecycle:
            if self._stopped:
                raise RuntimeStoppedError("a stopped Runtime cannot restart; create a new one")
            if self._supervisor is not None:
                return self
            self.bot.freeze()
            engine = Engine(self.bot, max_hops=self._max_hops)
            self._supervisor = Supervisor(
                engine,
                self._dispatcher,
                self._counters,
                self.store,
                idle_timeout=self._idle_timeout,
                max_live_sessions=self._max_live_sessions,
            )
            self._dispatcher.start()
            self._counters.running = True
            _LIVE.add(self)
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop accepting events, drain the accepted ones, and stop the workers.

        Events accepted before ``stop()`` are handled if they finish within ``timeout``
        seconds (``drain_timeout`` by default); the rest fail with ``RuntimeStoppedError``.
        No future is left pending. Calling it again does nothing.

        Returns:
            True if every accepted event was handled, False if some were failed.
        """
        with self._lifecycle:
            if self._stopped:
                return True
            self._stopped = True
            _LIVE.discard(self)
            self._counters.running = False
            supervisor = self._supervisor
            if supervisor is None:
                return True
            wait = self._drain_timeout if timeout is None else timeout
            drained = self._counters.wait_idle(wait)
            if not drained:
                self._log.warning(
                    "runtime_stop_timed_out",
                    pending=self._counters.pending,
                    timeout=wait,
                    detail="events still pending are failed with RuntimeStoppedError",
                )
            supervisor.close()
            self._dispatcher.stop(timeout=min(wait, 1.0) if not drained else wait)
            return drained

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the runtime accepts events."""
        return self._counters.running

    # -- events -----------------------------------------------------------------------------

    def open_session(self, session_id: str) -> Replies:
        """Open a session: run the initial state's body if the session is new.

        Returns:
            A future of the initial body's replies (empty if the session was already open).
        """
        return self._submit(session_id, TurnKind.OPEN, None, None)

    def send_message(self, session_id: str, text: str, *, message_id: str | None = None) -> Replies:
        """Send a user's text message to their session.

        Args:
            session_id: the user's session; opened first if unknown.
            text: the message.
            message_id: an id for the message; a resend with the same id returns the replies
                of the first delivery instead of running the bot again.

        Returns:
            A future of the replies produced while handling the message.

        Raises:
            TypeError, ValueError: an argument is invalid (the message says which).
            RuntimeStoppedError: the runtime is not running.
            OverloadedError: a queue bound was reached; nothing was queued.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if message_id is not None:
            _check_message_id(message_id)
        return self._submit(session_id, TurnKind.MESSAGE, text, message_id)

    def send_file(self, session_id: str, file: File, *, message_id: str | None = None) -> Replies:
        """Send a user's file to their session (see :meth:`send_message`)."""
        if not isinstance(file, File):
            raise TypeError(f"file must be a runtime.File, got {type(file).__name__}")
        return self._submit(session_id, TurnKind.FILE, file, _check_message_id(message_id))

    def send_event(
        self, session_id: str, name: str, payload: Mapping[str, Any] | None = None
    ) -> Replies:
        """Send a named event (a webhook, a timer...) to a session.

        While it is handled, ``session.event`` is ``ReceivedEvent(name, payload)``; the first
        variable or custom-event transition of the current state that holds moves the session.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"event name must be a non-empty str, got {name!r}")
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(
                f"event payload must be a mapping or None, got {type(payload).__name__}"
            )
        return self._submit(session_id, TurnKind.EVENT, make_event(name, payload), None)

    def reset(self, session_id: str) -> Replies:
        """Forget the session's data and history and start it again from the initial state.

        Returns:
            A future of the initial body's replies.
        """
        return self._submit(session_id, TurnKind.RESET, None, None)

    def _submit(
        self, session_id: str, kind: TurnKind, payload: Any, message_id: str | None
    ) -> Replies:
        _check_session_id(session_id)
        supervisor = self._supervisor
        counters = self._counters
        future: Replies = ReplyFuture()
        if self._max_pending is not None and counters.pending_now >= self._max_pending:
            return self._reject(future, "pending_events", counters.pending_now, self._max_pending)
        counters.accept()  # raises if not running
        assert supervisor is not None
        cell = supervisor.route(session_id)
        limit = self._max_session_queue
        if limit is not None and len(cell.inbox) >= limit:
            counters.unaccept()
            return self._reject(future, "session_queue", len(cell.inbox), limit)
        request = TurnRequest(kind, payload, message_id, future)
        # Not contextlib.suppress: this is every event's path, and a bare try costs nothing.
        try:  # noqa: SIM105
            supervisor.deliver(session_id, request, cell)
        except RuntimeStoppedError:
            pass  # stop() raced us: deliver() failed the future, which the caller now sees
        return future

    def _reject(self, future: Replies, bound: str, size: int, limit: int) -> Replies:
        if not self.running:
            raise RuntimeStoppedError("the runtime is not running")
        self._counters.rejected()
        future.set_exception(OverloadedError(bound, size, limit))
        return future

    def passivate(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Move a live session to the store once the events already sent to it are handled.

        Returns:
            A future of whether the session is passivated: False if it is unknown, or if
            another event arrived meanwhile (then it stays live).
        """
        _check_session_id(session_id)
        supervisor = self._supervisor
        if supervisor is None or not self.running:
            raise RuntimeStoppedError("the runtime is not running")
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        cell = supervisor.get(session_id)
        if cell is None:
            future.set_result(self.store.load(session_id) is not None)
        else:
            supervisor.request_passivation(cell, future)
        return future

    # -- inspection -------------------------------------------------------------------------

    def snapshot(self, session_id: str, *, timeout: float = 5.0) -> SessionSnapshot | None:
        """Return a frozen copy of the session after the events already sent to it.

        Returns:
            The snapshot, or None if the session does not exist.

        Raises:
            TimeoutError: the session did not answer within ``timeout`` seconds.
            RuntimeStoppedError: the runtime is not running.
        """
        _check_session_id(session_id)
        supervisor = self._supervisor
        if supervisor is None or not self.running:
            raise RuntimeStoppedError("the runtime is not running")
        return supervisor.snapshot(session_id, timeout)

    def session_ids(self) -> list[str]:
        """Return the ids of the sessions this runtime holds."""
        supervisor = self._supervisor
        return [] if supervisor is None else supervisor.session_ids()

    def stats(self) -> RuntimeStats:
        """Return the runtime's counters now (a frozen dataclass)."""
        pool = self._dispatcher.statistics()
        supervisor = self._supervisor
        return self._counters.snapshot(
            sessions_live=0 if supervisor is None else len(supervisor),
            workers=pool.workers,
            peak_workers=pool.peak_workers,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "new")
        return f"Runtime({self.bot.name!r}, {state})"
