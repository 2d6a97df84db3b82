"""The default backend: pooled pykka session actors on a few threads of this process.

Its parts each do one job and get only the narrow callables they need from this class (the
directory starts actors and reports growth, the sweeper queues passivations through them):
the :class:`Directory` routes events to cells, each cell's :class:`SessionActor` loads its
session, runs its turns through the commit point and passivates or forgets it, the
:class:`Sweeper` picks sessions to passivate, the :class:`Dispatcher` runs actors on worker
threads and notices turns past ``turn_timeout``, and :class:`Settlement` settles and counts
every turn's future. This class wires them together, takes events in (the bounds), and shuts
everything down in one pass.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import TYPE_CHECKING, Any

import pykka

from runtime._checks import check_positive_int
from runtime._future import ReplyFuture
from runtime.actors import (
    SNAPSHOT,
    ActorContext,
    Directory,
    Dispatcher,
    ForgetRequest,
    Lifecycle,
    PassivateRequest,
    SessionActor,
    SessionCell,
    Settlement,
    Sweeper,
    TurnRequest,
    WrittenTurn,
    save_quietly,
)
from runtime.actors._timer import Timer
from runtime.engine import Engine
from runtime.errors import (
    OverloadedError,
    RuntimeStoppedError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
    describe_exception,
)
from runtime.log import get_logger
from runtime.session import SessionData, SessionSnapshot
from runtime.stats import Counters, RuntimeStats
from runtime.store import persistence_for
from runtime.subscriptions import ReplyCallback, Subscription, Subscriptions

if TYPE_CHECKING:
    from runtime.backends._base import RuntimeConfig
    from runtime.bot import Bot
    from runtime.event import Event
    from runtime.store import SessionStore

__all__ = ["ThreadBackend"]

Replies = concurrent.futures.Future[list[str]]


class ThreadBackend:
    """Run sessions as pooled actors on an elastic pool of threads in this process.

    Args:
        workers: dispatcher threads kept running (and kept free of blocked bodies).
        max_workers: the most dispatcher threads while bodies block on I/O.
        slice_budget: the most events one session handles before yielding its thread.
    """

    def __init__(self, *, workers: int = 2, max_workers: int = 128, slice_budget: int = 16) -> None:
        check_positive_int("workers", workers)
        check_positive_int("max_workers", max_workers)
        check_positive_int("slice_budget", slice_budget)
        if max_workers < workers:
            raise ValueError(f"max_workers ({max_workers}) must be >= workers ({workers})")
        self.workers = workers
        self.max_workers = max_workers
        self.slice_budget = slice_budget
        self._started = False
        self._counters = Counters()
        self._subscriptions = Subscriptions()
        self._commits = threading.Condition()
        self._log = get_logger()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, bot: Bot, store: SessionStore, config: RuntimeConfig) -> None:
        """Start the pool and the sweeper; the backend then accepts events."""
        if self._started:
            raise RuntimeStoppedError("a backend serves one Runtime once; create a new one")
        self._started = True
        self._store = store
        self._config = config
        persistence = persistence_for(store)
        self._durable = persistence is not None
        self._dispatcher = Dispatcher(
            workers=self.workers,
            max_workers=self.max_workers,
            slice_budget=self.slice_budget,
            message_timeout=config.turn_timeout,
        )
        self._settlement = Settlement(self._counters)
        self._timer = Timer("runtime-restarts")
        self._directory = Directory(self._start_actor, self._on_grow)
        self._sweeper = Sweeper(
            self._directory,
            self._request_passivation,
            idle_timeout=config.idle_timeout,
            max_live_sessions=config.max_live_sessions,
        )
        self._context = ActorContext(
            dispatcher=self._dispatcher,
            engine=Engine(bot, max_hops=config.max_hops),
            store=store,
            directory=self._directory,
            settlement=self._settlement,
            counters=self._counters,
            subscriptions=self._subscriptions,
            max_history=config.max_history,
            message_id_window=config.message_id_window,
            turn_timeout=config.turn_timeout,
            persistence=persistence,
            poison_after=config.poison_after,
            restart_backoff=config.restart_backoff,
            timer=self._timer,
            commits=self._commits,
        )
        self._dispatcher.start()
        self._sweeper.start()
        self._counters.running = True

    def _start_actor(self, cell: SessionCell) -> None:
        SessionActor.spawn(cell=cell, context=self._context)

    def _on_grow(self, live: int) -> None:
        self._sweeper.wake(live)

    @property
    def running(self) -> bool:
        """Whether the backend accepts events."""
        return self._counters.running

    def close(self, timeout: float) -> bool:
        """Drain for at most ``timeout`` seconds, fail what is left, stop every thread.

        Every step runs even if an earlier one fails; store failures while saving the live
        sessions are raised at the end, as one ``StoreError``.

        Returns:
            True if every accepted event was handled, False if some were failed.
        """
        if not self._started:
            return True
        deadline = time.monotonic() + timeout
        self._counters.running = False
        drained = self._counters.wait_idle(timeout)
        if not drained:
            self._log.warning(
                "runtime_stop_timed_out",
                pending=self._counters.pending_now,
                timeout=timeout,
                detail="events still pending are failed with RuntimeStoppedError",
            )
        # A sender that passed the running check just before it turned false may still get its
        # event accepted, then failed below: then this was not a full drain.
        failed_before = self._counters.totals()["failures"]
        self._sweeper.stop(_left(deadline))
        failed_saves: list[str] = []
        for cell in self._directory.close():
            if not self._close_cell(cell, deadline):
                failed_saves.append(cell.id)
        self._timer.stop(_left(deadline))
        self._dispatcher.stop(timeout=_left(deadline))
        if self._counters.totals()["failures"] > failed_before:
            drained = False
        if failed_saves:
            raise StoreError(
                f"the runtime stopped, but saving {len(failed_saves)} session(s) to the store "
                f"failed (first: {failed_saves[0]!r}); see the session_save_failed log lines"
            )
        return drained

    def _close_cell(self, cell: SessionCell, deadline: float) -> bool:
        """Fail what the cell queued or runs, stop its actor, save it; False if saving failed."""
        stopped = RuntimeStoppedError("the runtime stopped before this event was handled")
        leftovers = cell.close(stopped)
        with cell.lock:  # held by others only for a few reads and writes
            cell.lifecycle = Lifecycle.CLOSED
            running = cell.running
            if running is not None and not running.abandoned:
                running.abandoned = True
            else:
                running = None
        for message in leftovers:
            if isinstance(message, TurnRequest):
                self._settlement.fail(message, stopped)
            elif isinstance(message, PassivateRequest):
                message.resolve(False)
            elif isinstance(message, ForgetRequest):
                message.fail(stopped)
            elif isinstance(message, WrittenTurn):
                message.complete()  # its write ended just before the stop: settle it
        if running is not None:
            self._settlement.fail(
                running, RuntimeStoppedError("the runtime stopped while a body was running")
            )
        if cell.actor is not None:
            cell.actor.actor_stopped.set()
        # A claimed turn is being installed (a durable store's save, a slow copy): it will
        # commit. Wait for it until the deadline; past it, its actor saves it when done.
        with self._commits:
            finished = self._commits.wait_for(
                lambda: cell.committing is None, timeout=_left(deadline)
            )
        if self._durable or not finished:
            return True  # every commit is in the store already, or will be by its actor
        return save_quietly(self._store, cell, self._counters)

    # -- events -----------------------------------------------------------------------------

    def submit(self, event: Event) -> Replies:
        """Accept ``event`` and queue it on its session (see ``Backend.submit``)."""
        # Every event's path: attributes read once, the counters' common case inlined
        # (Counters.accept).
        counters = self._counters
        # The request is the caller's future; it keeps the Event itself only for subscribers.
        future = request = TurnRequest(event, keep_event=self._subscriptions.active)
        pending = counters._pending
        max_pending = self._config.max_pending
        if max_pending is not None and len(pending) >= max_pending:
            return self._reject(future, "pending_events", len(pending), max_pending)
        if not counters.running:
            counters.check_running()  # raises RuntimeStoppedError, saying why
        try:
            counters._local.cell.accepted += 1
        except AttributeError:  # this thread's first event
            counters.cell().accepted += 1
        pending.append(None)
        directory = self._directory
        try:
            cell = directory.route(event.session_id)
            cell.touched = directory.tick
            try:
                queued = cell.offer(request, self._config.max_session_queue)
            except pykka.ActorDeadError:
                self._put(event.session_id, cell, request)  # moved meanwhile: follow it
                queued = True
        except RuntimeStoppedError as exc:
            self._settlement.fail(request, exc)  # stop() raced us: the caller sees a failure
            return future
        if not queued:  # outside the try: a stop() racing the refusal raises to the caller
            counters.unaccept()
            limit = self._config.max_session_queue
            assert limit is not None  # offer() refuses only with a limit
            return self._reject(future, "session_queue", len(cell), limit)
        return future

    def _reject(self, future: Replies, bound: str, size: int, limit: int) -> Replies:
        if not self.running:
            raise RuntimeStoppedError("the runtime is not running")
        self._counters.rejected()
        future.set_exception(OverloadedError(bound, size, limit))
        return future

    def _put(self, session_id: str, cell: SessionCell | None, message: object) -> None:
        """Queue ``message`` on the session's live inbox, following it if it moves.

        Raises:
            RuntimeStoppedError: the runtime stopped.
        """
        directory = self._directory
        while True:
            if cell is None:
                cell = directory.route(session_id)
            cell.touched = directory.tick
            try:
                cell.tell(message)
                return
            except pykka.ActorDeadError:
                if not cell.moved:
                    raise RuntimeStoppedError("the runtime stopped") from None
                cell = None  # passivated, forgotten or failed to load: route again

    def _ask(self, session_id: str, message: object, timeout: float) -> Any:
        directory = self._directory
        cell = directory.get(session_id)
        while True:
            if cell is None:
                cell = directory.route(session_id)
            try:
                future = cell.ask(message)
                break
            except pykka.ActorDeadError:
                if not cell.moved:
                    raise RuntimeStoppedError("the runtime stopped") from None
                cell = None
        try:
            return future.get(timeout=timeout)
        except pykka.Timeout as exc:
            raise TimeoutError(
                f"session {session_id!r} did not answer within {timeout} s "
                "(a body is still running?)"
            ) from exc
        except pykka.ActorDeadError as exc:
            raise RuntimeStoppedError("the runtime stopped") from exc

    def _request_passivation(
        self, cell: SessionCell, future: concurrent.futures.Future[bool] | None = None
    ) -> None:
        with cell.lock:
            request = cell.passivation
            fresh = request is None
            if request is None:
                request = cell.passivation = PassivateRequest(cell.touched)
            if future is not None:
                request.futures.append(future)
        if not fresh:
            return  # one request per cell in the inbox at a time
        try:
            cell.tell(request)
        except pykka.ActorDeadError:
            with cell.lock:
                cell.passivation = None
            # Gone meanwhile: passivated, or forgotten, or its load failed; only the first is
            # a passivation.
            request.resolve(cell.id in self._counters.passivated)

    # -- session operations -----------------------------------------------------------------

    def snapshot(self, session_id: str, timeout: float) -> SessionSnapshot | None:
        """Return the session's committed snapshot, asking its actor if it is live."""
        if self._directory.get(session_id) is None:
            record = self._load(session_id)
            if record is None or record.state is None:
                return None
            return record.snapshot()
        result = self._ask(session_id, SNAPSHOT, timeout)
        assert result is None or isinstance(result, SessionSnapshot)
        return result

    def passivate(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Move a live session to the store (see ``Backend.passivate``)."""
        future: concurrent.futures.Future[bool] = ReplyFuture()
        cell = self._directory.get(session_id)
        if cell is None:
            try:
                future.set_result(self._load(session_id) is not None)
            except StoreError as exc:
                future.set_exception(exc)
        else:
            self._request_passivation(cell, future)
        return future

    def forget(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Erase a session, live and stored (see ``Backend.forget``)."""
        future: concurrent.futures.Future[bool] = ReplyFuture()
        request = ForgetRequest()
        request.futures.append(future)
        self._put(session_id, None, request)
        return future

    def subscribe(self, session_id: str, callback: ReplyCallback) -> Subscription:
        """Deliver the session's committed turns to ``callback`` (see ``runtime.subscriptions``)."""
        return self._subscriptions.subscribe(session_id, callback)

    def _load(self, session_id: str) -> SessionData | None:
        try:
            return self._store.load(session_id)
        except StoreCorruptError:
            self._counters.cell().store_errors += 1
            raise
        except BaseException as exc:  # CancelledError from a store too
            self._counters.cell().store_errors += 1
            raise StoreUnavailableError(
                f"loading session {session_id!r} failed: {describe_exception(exc)}"
            ) from exc

    # -- inspection -------------------------------------------------------------------------

    def session_ids(self) -> list[str]:
        """Return the ids of every session, live or stored."""
        if not self._started:
            return []
        return list(dict.fromkeys([*self._directory.ids(), *self._store.session_ids()]))

    def stats(self) -> RuntimeStats:
        """Return the counters now."""
        if not self._started:
            return self._counters.snapshot(0, 0, 0)
        pool = self._dispatcher.statistics()
        return self._counters.snapshot(
            sessions_live=len(self._directory),
            workers=pool.workers,
            peak_workers=pool.peak_workers,
            subscribers=len(self._subscriptions),
        )


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
