"""The Runtime facade: the one door through which platforms reach sessions."""

from __future__ import annotations

import concurrent.futures
import enum
import threading
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from runtime._checks import check_message_id, check_seconds
from runtime.backends import Backend, RuntimeConfig, ThreadBackend
from runtime.bot import Bot, File
from runtime.engine import DEFAULT_MAX_HOPS
from runtime.errors import RuntimeStoppedError, describe_exception
from runtime.event import (
    MAX_ID_LENGTH,
    Event,
    TurnKind,
    check_event,
    check_id,
    make_received,
)
from runtime.log import get_logger
from runtime.session import MESSAGE_ID_MEMORY, SessionSnapshot
from runtime.stats import RuntimeStats
from runtime.store import SessionStore, open_store
from runtime.subscriptions import ReplyCallback, Subscription

__all__ = ["MAX_SESSION_ID_LENGTH", "Runtime", "RuntimeState", "live_runtimes"]

MAX_SESSION_ID_LENGTH = MAX_ID_LENGTH

Replies = concurrent.futures.Future[list[str]]

# Runtimes started and not yet stopped; lets test suites stop whatever a failed test left.
_LIVE: weakref.WeakSet[Runtime] = weakref.WeakSet()


def live_runtimes() -> list[Runtime]:
    """Return the runtimes started in this process and not stopped yet."""
    return list(_LIVE)


class RuntimeState(enum.Enum):
    """Where a Runtime is in its life (``Runtime.state``)."""

    NEW = "new"  # built, not started: events are refused
    RUNNING = "running"  # started: events are accepted
    STOPPING = "stopping"  # stop() is draining: new events are refused, accepted ones finish
    STOPPED = "stopped"  # stopped for good (runtimes do not restart)


# Enum members read from the class cost ~75 ns each; the hot path reads these instead.
_RUNNING = RuntimeState.RUNNING
_MESSAGE = TurnKind.MESSAGE
_new_tuple = tuple.__new__


class Runtime:
    """Serve one bot to many concurrent sessions, each an actor that owns its data.

    Every event method returns a ``concurrent.futures.Future`` that resolves to the replies
    produced while handling that event. An event for an unknown session first opens it, so the
    initial body's replies come first. Events of one session are handled one at a time, in the
    order they were sent; different sessions run concurrently.

    A resolved future means the whole turn was committed (its data, history, replies and
    ``message_id`` record); a failed one means none of it was: the session is exactly as it was
    before the event (``SessionCrashedError``, ``TurnTimeoutError``, ``StoreError``,
    ``SessionValueError``, ``RuntimeStoppedError``, ``OverloadedError``).

    Args:
        bot: the bot to serve; it is frozen when the runtime starts.
        store: where sessions are kept: a store object, or a URL the runtime opens (and closes
            at ``stop()``): ``"memory"``, ``"sqlite:///path.db"`` (relative) or
            ``"sqlite:////abs/path.db"``, ``"redis://host:port/0"``. None: a new in-memory
            ``MemoryStore``. With a durable store (SQLite, Redis) every turn is written
            before its future resolves, and values are checked at ``session.set``.
        backend: what runs the sessions (None: a ``ThreadBackend`` of this process).
        idle_timeout: passivate a session after at least this many seconds without events
            (None: never). A passivated session comes back transparently on its next event.
        max_live_sessions: keep about this many sessions live; beyond it the least recently
            used are passivated (down to 90% of it, by a background sweeper).
        max_session_queue: the most events queued for one session; past it the returned
            future fails at once with ``OverloadedError`` and nothing is queued.
        max_pending: the most accepted, unresolved events in the whole runtime (same).
        workers: threads of the default backend kept running (and kept free of blocked bodies).
        max_workers: the most threads of the default backend while bodies block.
        max_hops: the most state moves one event may cause before the chain is cut.
        slice_budget: the most events one session handles before yielding its thread.
        drain_timeout: seconds ``stop()`` waits for accepted events by default.
        turn_timeout: seconds after which a running turn's future fails with
            ``TurnTimeoutError`` (None: never). Python cannot stop the body: the turn is rolled
            back when it returns, and the pool adds a thread so other sessions go on.
        max_history: keep at most this many chat history entries per session, the newest
            (None: all); ``session.chat_history`` is what is kept.
        message_id_window: how many ``message_id``s each session remembers (with their
            replies, in the store too): a resend of one of them returns the stored replies
            without running any body, also after a restart on a durable store.
        poison_after: an event whose turn crashes its session's actor (a ``BaseException``
            such as ``SystemExit`` from a body) is rolled back and run again, up to this many
            times in all; then it is quarantined: its future fails with ``PoisonEventError``
            and the session's later events go on (1: never run a crashed event again).
        restart_backoff: seconds before replacing the actor of a session that crashed twice
            in a row, doubling with each further crash (at most 1 s); the first crash is
            replaced at once. Other sessions never wait.

    Example::

        with Runtime(bot) as rt:
            replies = rt.send_message("alice", "hi").result(timeout=5)
    """

    def __init__(
        self,
        bot: Bot,
        *,
        store: SessionStore | str | None = None,
        backend: Backend | None = None,
        idle_timeout: float | None = None,
        max_live_sessions: int | None = None,
        max_session_queue: int | None = 10_000,
        max_pending: int | None = 1_000_000,
        workers: int | None = None,
        max_workers: int | None = None,
        max_hops: int = DEFAULT_MAX_HOPS,
        slice_budget: int | None = None,
        drain_timeout: float = 5.0,
        turn_timeout: float | None = None,
        max_history: int | None = None,
        message_id_window: int = MESSAGE_ID_MEMORY,
        poison_after: int = 3,
        restart_backoff: float = 0.01,
    ) -> None:
        if not isinstance(bot, Bot):
            raise TypeError(f"Runtime needs a Bot, got {type(bot).__name__}")
        if store is not None and not isinstance(store, str | SessionStore):
            raise TypeError(
                "store must be a store URL or implement SessionStore (load, save, delete, "
                f"session_ids, __len__, close), got {type(store).__name__}"
            )
        pool = {"workers": workers, "max_workers": max_workers, "slice_budget": slice_budget}
        given = {name: value for name, value in pool.items() if value is not None}
        if backend is None:
            backend = ThreadBackend(**given)
        elif not isinstance(backend, Backend):
            raise TypeError(f"backend must implement Backend, got {type(backend).__name__}")
        elif given:
            raise ValueError(
                f"{', '.join(given)} configure the default backend; pass them to the backend "
                "you give instead"
            )
        check_seconds("drain_timeout", drain_timeout, allow_zero=True)
        self.config = RuntimeConfig.checked(
            idle_timeout=idle_timeout,
            max_live_sessions=max_live_sessions,
            max_session_queue=max_session_queue,
            max_pending=max_pending,
            max_hops=max_hops,
            max_history=max_history,
            turn_timeout=turn_timeout,
            message_id_window=message_id_window,
            poison_after=poison_after,
            restart_backoff=restart_backoff,
        )
        self.bot = bot
        # Opened last: nothing above can fail after a store connection or file exists.
        self._owns_store = isinstance(store, str)
        self.store: SessionStore = open_store(store)
        self.backend: Backend = backend
        self._drain_timeout = float(drain_timeout)
        self._state = RuntimeState.NEW
        self._lifecycle = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def state(self) -> RuntimeState:
        """Where the runtime is in its life."""
        return self._state

    @property
    def running(self) -> bool:
        """Whether the runtime accepts events."""
        return self._state is RuntimeState.RUNNING

    def start(self) -> Self:
        """Freeze the bot and start serving (does nothing if already running).

        Raises:
            BotDefinitionError: the bot has no initial state.
            RuntimeStoppedError: this runtime was stopped (runtimes do not restart).
        """
        with self._lifecycle:
            if self._state is RuntimeState.RUNNING:
                return self
            if self._state is not RuntimeState.NEW:
                raise RuntimeStoppedError("a stopped Runtime cannot restart; create a new one")
            self.bot.freeze()
            bind = getattr(self.store, "bind", None)
            if callable(bind):
                bind(self.bot)  # a durable store's codec decodes to this bot's intents, types
            self.backend.start(self.bot, self.store, self.config)
            self._state = RuntimeState.RUNNING
            # A runtime dropped without stop() still stops its threads (when it is collected,
            # or at interpreter exit). The callback holds the backend, never the runtime.
            self._finalizer = weakref.finalize(
                self,
                _close_dropped,
                self.backend,
                self._drain_timeout,
                self.store if self._owns_store else None,
            )
            _LIVE.add(self)
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop accepting events, drain the accepted ones, and stop every thread.

        Events accepted before ``stop()`` are handled if they finish within ``timeout``
        seconds (``drain_timeout`` by default); the rest fail with ``RuntimeStoppedError`` and
        their turns are not committed (a body still running is rolled back when it returns).
        ``stop`` returns within about ``timeout``; every future is then settled, except that
        of a turn already saving its commit to a durable store, which resolves when the save
        returns. Calling it again does nothing.

        Returns:
            True if every accepted event was handled, False if some were failed.

        Raises:
            ValueError: ``timeout`` is not a finite number >= 0 (nothing was stopped).
            StoreError: saving live sessions to the store failed; everything else stopped.
        """
        wait = (
            self._drain_timeout
            if timeout is None
            else check_seconds("timeout", timeout, allow_zero=True)
        )
        with self._lifecycle:
            if self._state is RuntimeState.STOPPED:
                return True
            if self._state is RuntimeState.NEW:
                self._state = RuntimeState.STOPPED
                self._close_store()
                return True
            self._state = RuntimeState.STOPPING
            _LIVE.discard(self)
            if self._finalizer is not None:
                self._finalizer.detach()
            deadline = time.monotonic() + wait
            try:
                return self.backend.close(wait)
            finally:
                self._state = RuntimeState.STOPPED
                self._close_store(max(0.0, deadline - time.monotonic()))

    def _close_store(self, timeout: float = 0.0) -> None:
        """Close the store this runtime opened from a URL (a store given as an object stays).

        Such a store is one of ours (``open_store``): it waits at most ``timeout`` for writes
        still queued.
        """
        if self._owns_store:
            self.store.close(timeout=timeout)  # type: ignore[call-arg]  # ours take a timeout

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- events -----------------------------------------------------------------------------

    def submit(self, event: Event) -> Replies:
        """Hand ``event`` to its session; every other event method is a wrapper of this.

        Returns:
            A future of the replies produced while handling the event.

        Raises:
            TypeError, ValueError: the event is invalid (the message says which field).
            RuntimeStoppedError: the runtime is not running.
        """
        return self._submit(check_event(event))

    def _submit(self, event: Event) -> Replies:
        if self._state is not _RUNNING:
            self._check_running()
        return self.backend.submit(event)

    def open_session(self, session_id: str) -> Replies:
        """Open a session: run the initial state's body if the session is new.

        Returns:
            A future of the initial body's replies (empty if the session was already open).
        """
        return self._submit(Event(check_id("session_id", session_id), TurnKind.OPEN))

    def send_message(self, session_id: str, text: str, *, message_id: str | None = None) -> Replies:
        """Send a user's text message to their session.

        Args:
            session_id: the user's session; opened first if unknown.
            text: the message.
            message_id: an id for the message; a resend with the id of a committed turn
                returns that turn's replies instead of running the bot again.

        Returns:
            A future of the replies produced while handling the message.

        Raises:
            TypeError, ValueError: an argument is invalid (the message says which).
            RuntimeStoppedError: the runtime is not running.
        """
        # The most common call of all: the checks of check_id inlined, one call saved.
        if type(session_id) is not str or not 0 < len(session_id) <= MAX_ID_LENGTH:
            check_id("session_id", session_id)  # raises, saying what is wrong
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if message_id is not None:
            check_message_id(message_id)
        if self._state is not _RUNNING:
            self._check_running()
        # Event(...) through tuple.__new__: the named tuple's own __new__ is a Python call.
        return self.backend.submit(_new_tuple(Event, (session_id, _MESSAGE, text, message_id)))

    def send_file(self, session_id: str, file: File, *, message_id: str | None = None) -> Replies:
        """Send a user's file to their session (see :meth:`send_message`)."""
        check_id("session_id", session_id)
        if not isinstance(file, File):
            raise TypeError(f"file must be a runtime.File, got {type(file).__name__}")
        if message_id is not None:
            check_message_id(message_id)
        return self._submit(Event(session_id, TurnKind.FILE, file, message_id))

    def send_event(
        self,
        session_id: str,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
    ) -> Replies:
        """Send a named event (a webhook, a timer...) to a session.

        While it is handled, ``session.event`` is ``ReceivedEvent(name, payload)``; the first
        variable or custom-event transition of the current state that holds moves the session.
        """
        check_id("session_id", session_id)
        if not isinstance(name, str) or not name:
            raise TypeError(f"event name must be a non-empty str, got {name!r}")
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(
                f"event payload must be a mapping or None, got {type(payload).__name__}"
            )
        if message_id is not None:
            check_message_id(message_id)
        received = make_received(name, payload)
        return self._submit(Event(session_id, TurnKind.EVENT, received, message_id))

    def reset(self, session_id: str) -> Replies:
        """Forget the session's data and history and start it again from the initial state.

        Returns:
            A future of the initial body's replies.
        """
        return self._submit(Event(check_id("session_id", session_id), TurnKind.RESET))

    # -- session management -----------------------------------------------------------------

    def passivate(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Move a live session to the store once the events already sent to it are handled.

        Returns:
            A future of whether the session is passivated: False if it is unknown, or if
            another event arrived meanwhile (then it stays live). It fails with ``StoreError``
            if the store refused the session, which then stays live and intact.
        """
        check_id("session_id", session_id)
        self._check_running()
        return self.backend.passivate(session_id)

    def forget(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Erase a session, live and stored, once the events already sent to it are handled.

        Events sent after it find a new session. Subscriptions are kept.

        Returns:
            A future of whether the session existed. It fails with ``StoreError`` if the
            store could not delete it (then nothing was forgotten).
        """
        check_id("session_id", session_id)
        self._check_running()
        return self.backend.forget(session_id)

    def subscribe(self, session_id: str, callback: ReplyCallback) -> Subscription:
        """Call ``callback(event, replies)`` after each committed turn of the session.

        Turns are delivered in turn order, on the session's thread, whatever sent their event
        (this connection, a webhook, a timer). Keep the callback quick; its exceptions are
        logged and dropped. See ``runtime.subscriptions``.

        Returns:
            A ``Subscription``; ``cancel()`` it (or use it as a context manager) to stop.
        """
        check_id("session_id", session_id)
        return self.backend.subscribe(session_id, callback)

    def _check_running(self) -> None:
        if self._state is not RuntimeState.RUNNING:
            raise RuntimeStoppedError(
                "the runtime is not running: start it (use `with Runtime(bot) as rt:`) "
                "and send events before stop()"
            )

    # -- inspection -------------------------------------------------------------------------

    def snapshot(self, session_id: str, *, timeout: float = 5.0) -> SessionSnapshot | None:
        """Return a frozen copy of the session after the events already sent to it.

        Returns:
            The snapshot (it shares nothing with the live session), or None if the session
            does not exist.

        Raises:
            TimeoutError: the session did not answer within ``timeout`` seconds.
            RuntimeStoppedError: the runtime is not running.
            StoreError: the session is not live and the store failed to load it.
        """
        check_id("session_id", session_id)
        check_seconds("timeout", timeout)
        self._check_running()
        return self.backend.snapshot(session_id, timeout)

    def session_ids(self) -> list[str]:
        """Return the ids of the sessions this runtime holds, live or stored."""
        return self.backend.session_ids()

    def stats(self) -> RuntimeStats:
        """Return the runtime's counters now (a frozen dataclass)."""
        return self.backend.stats()

    def __repr__(self) -> str:
        return f"Runtime({self.bot.name!r}, {self._state.value})"


def _close_dropped(backend: Backend, timeout: float, store: SessionStore | None) -> None:
    """Stop the backend of a runtime that was dropped (or left running at exit)."""
    try:
        backend.close(timeout)
        if store is not None:
            store.close()
    except Exception as exc:  # a finalizer must not raise
        get_logger().error("runtime_close_failed", error=describe_exception(exc))
