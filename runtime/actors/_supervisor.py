"""The supervisor: routes events to session actors, activates, passivates and replaces them.

Routing is a dictionary lookup done by the sending thread, not a message to a shared actor, so
no single mailbox sits on every event's path. Activation takes a lock only when a session is
not found, and looks again under it, so concurrent first events for one session create exactly
one cell and one actor; the first turn the actor runs opens the session (runs the initial body)
exactly once, whichever event it is.

Passivation is a message in the session's own inbox, so it is ordered with the session's
events: the actor passivates only if nothing was queued after the request. Under the activation
lock it then closes its inbox as *moved*, removes its cell and saves its data to the store. A
sender that still held the old cell finds the inbox moved and routes again, which loads the
session back from the store: an event that races a passivation is neither lost nor reordered.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING

import pykka
from pykka._envelope import Envelope

from runtime.actors._session_actor import (
    SNAPSHOT,
    PassivateRequest,
    SessionActor,
    SessionCell,
    TurnRequest,
    fail_future,
)
from runtime.errors import RuntimeStoppedError, SessionCrashedError
from runtime.log import get_logger
from runtime.session import Session, SessionData, SessionSnapshot

if TYPE_CHECKING:
    from runtime.actors._dispatcher import Dispatcher
    from runtime.engine import Engine, TurnOutcome
    from runtime.stats import Counters
    from runtime.store import SessionStore

__all__ = ["Supervisor"]


class Supervisor:
    """Own every session of one Runtime: live cells and the store of passivated ones.

    Args:
        engine: runs turns of the bot.
        dispatcher: the pool session actors run on.
        counters: the Runtime's counters.
        store: where passivated sessions go.
        idle_timeout: passivate sessions idle for this many seconds (None: never).
        max_live_sessions: passivate the least recently used sessions beyond this many.
    """

    def __init__(
        self,
        engine: Engine,
        dispatcher: Dispatcher,
        counters: Counters,
        store: SessionStore,
        *,
        idle_timeout: float | None = None,
        max_live_sessions: int | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.counters = counters
        self.store = store
        self.idle_timeout = idle_timeout
        self.max_live_sessions = max_live_sessions
        self._cells: dict[str, SessionCell] = {}
        self._lock = threading.Lock()
        self._log = get_logger()
        # A coarse clock: the sweeper advances it; senders stamp cells with it (an int read is
        # far cheaper than time.monotonic() on every event).
        self.tick = 0
        self._sweep_interval = 0.05
        if idle_timeout is not None:
            self._sweep_interval = min(max(idle_timeout / 4, 0.01), 1.0)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None
        if idle_timeout is not None or max_live_sessions is not None:
            self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)
            self._sweeper.start()

    def __len__(self) -> int:
        return len(self._cells)

    def session_ids(self) -> list[str]:
        """Return the ids of every session, live or passivated."""
        with self._lock:
            return list(dict.fromkeys([*self._cells, *self.store.session_ids()]))

    def get(self, session_id: str) -> SessionCell | None:
        """Return the session's live cell, or None."""
        return self._cells.get(session_id)

    # -- routing ----------------------------------------------------------------------------

    def route(self, session_id: str) -> SessionCell:
        """Return the session's live cell, activating it (new or from the store) if needed."""
        cell = self._cells.get(session_id)
        if cell is not None:
            return cell
        with self._lock:
            cell = self._cells.get(session_id)
            if cell is None:
                data = self.store.load(session_id)
                counts = self.counters.cell()
                if data is None:
                    data = SessionData(session_id)
                else:
                    counts.rehydrations += 1
                counts.activations += 1
                cell = SessionCell(data, Session(data, self.engine.bot), self.tick)
                SessionActor.start(cell=cell, supervisor=self)
                self._cells[session_id] = cell
                if self.max_live_sessions is not None and len(self._cells) > self.max_live_sessions:
                    self._wake.set()
        return cell

    def deliver(
        self, session_id: str, request: TurnRequest, cell: SessionCell | None = None
    ) -> None:
        """Queue ``request`` on the session's inbox (the event is already accepted).

        Args:
            session_id: the session.
            request: the accepted event.
            cell: the session's cell if the caller just routed it (saves a lookup).

        Raises:
            RuntimeStoppedError: the runtime stopped meanwhile; the future is failed.
        """
        if not self._put(session_id, Envelope(request), cell):
            self.turn_failed(request, _stopped())
            raise RuntimeStoppedError("the runtime stopped before the event was queued")

    def _put(
        self, session_id: str, envelope: Envelope[object], cell: SessionCell | None = None
    ) -> bool:
        """Queue ``envelope`` on the session's live inbox; False if the runtime stopped."""
        while True:
            if cell is None:
                cell = self.route(session_id)
            cell.touched = self.tick
            try:
                cell.inbox.put(envelope)
                return True
            except pykka.ActorDeadError:
                if not cell.inbox.moved:
                    return False
                cell = None  # passivated under our feet: route again, from the store

    def ask(self, session_id: str, message: object, timeout: float) -> object:
        """Put ``message`` in the session's inbox and wait for the actor's answer.

        Raises:
            TimeoutError: no answer within ``timeout`` seconds.
        """
        future: pykka.Future[object] = pykka.ThreadingFuture()
        if not self._put(session_id, Envelope(message, reply_to=future)):
            raise RuntimeStoppedError("the runtime stopped")
        try:
            return future.get(timeout=timeout)
        except pykka.Timeout as exc:
            raise TimeoutError(
                f"session {session_id!r} did not answer within {timeout} s "
                "(a body is still running?)"
            ) from exc

    def snapshot(self, session_id: str, timeout: float) -> SessionSnapshot | None:
        """Return the session's snapshot (asking its actor if live), or None if unknown."""
        if session_id not in self._cells:
            with self._lock:
                if session_id not in self._cells:
                    data = self.store.load(session_id)
                    return None if data is None else data.snapshot()
        result = self.ask(session_id, SNAPSHOT, timeout)
        assert result is None or isinstance(result, SessionSnapshot)
        return result

    # -- passivation ------------------------------------------------------------------------

    def request_passivation(
        self, cell: SessionCell, future: concurrent.futures.Future[bool] | None = None
    ) -> None:
        """Ask ``cell``'s actor to passivate once it has handled what is queued before."""
        with self._lock:
            request = cell.passivation
            fresh = request is None
            if request is None:
                request = cell.passivation = PassivateRequest(cell.touched)
            if future is not None:
                request.futures.append(future)
        if not fresh:
            return  # one request per cell in the inbox at a time
        try:
            cell.inbox.put(Envelope(request))
        except pykka.ActorDeadError:
            request.resolve(cell.inbox.moved)

    def passivate_cell(self, cell: SessionCell, request: PassivateRequest) -> bool:
        """Move ``cell``'s session to the store if nothing arrived since ``request``.

        Called by the cell's own actor, in its turn order.
        """
        with self._lock:
            cell.passivation = None
            if cell.touched != request.touched or self._cells.get(cell.data.id) is not cell:
                return False
            if not cell.inbox.close_if_empty():
                return False  # an event is queued behind the request: stay live
            del self._cells[cell.data.id]
            self.store.save(cell.data)
        counts = self.counters.cell()
        counts.passivations += 1
        return True

    def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._sweep_interval)
            self._wake.clear()
            self.tick += 1
            if self._stopping.is_set() or not self.dispatcher.running:
                return
            try:
                self.sweep()
            except Exception:  # never let the sweeper die: log and go on
                self._log.exception("sweep_failed")

    def sweep(self) -> int:
        """Ask idle and least-recently-used sessions to passivate; return how many were asked."""
        cells = list(self._cells.values())
        victims: list[SessionCell] = []
        if self.idle_timeout is not None:
            idle_ticks = self.idle_timeout / self._sweep_interval
            victims = [c for c in cells if self.tick - c.touched >= idle_ticks]
        limit = self.max_live_sessions
        if limit is not None and len(cells) - len(victims) > limit:
            # Down to 90% of the cap, so activations do not trigger a sweep each.
            chosen = {id(c) for c in victims}
            rest = sorted((c for c in cells if id(c) not in chosen), key=lambda c: c.touched)
            victims.extend(rest[: len(rest) - int(limit * 0.9)])
        for cell in victims:
            self.request_passivation(cell)
        return len(victims)

    # -- called by session actors (on a dispatcher worker) ----------------------------------

    def turn_done(self, request: TurnRequest, outcome: TurnOutcome) -> None:
        """Count a turn, then resolve its future with its replies.

        Counting comes first so a caller woken by its future sees its event in stats().
        """
        cell = self.counters.cell()
        cell.add_outcome(outcome)
        try:
            request.future.set_result(outcome.replies)
        except concurrent.futures.InvalidStateError:
            cell.add_outcome(outcome, sign=-1)  # stop() failed it first; drop the late result
            return
        self.counters.resolved()

    def turn_failed(self, request: TurnRequest, exc: BaseException) -> None:
        """Count a failed turn, then fail its future (unless something resolved it first)."""
        cell = self.counters.cell()
        cell.failures += 1
        if fail_future(request.future, exc):
            self.counters.resolved()
        else:
            cell.failures -= 1

    def turn_cancelled(self) -> None:
        """Count a turn whose caller cancelled its future before it ran."""
        self.counters.cell().failures += 1
        self.counters.resolved()

    def actor_died(
        self, actor: SessionActor, request: TurnRequest | None, exc: BaseException | None
    ) -> None:
        """Fail the turn that killed ``actor`` and start a replacement on the same cell."""
        cell = actor._cell
        cause = exc.__cause__ if isinstance(exc, SessionCrashedError) else exc
        self._log.error(
            "session_actor_died",
            session_id=cell.data.id,
            state=cell.data.state,
            event_kind=None if request is None else request.kind.value,
            error=repr(cause),
            detail="turn rolled back; actor replaced; queued events go on",
        )
        if request is not None:
            error = (
                exc
                if isinstance(exc, SessionCrashedError)
                else SessionCrashedError(f"session {cell.data.id!r}: the actor died: {exc!r}")
            )
            if error is not exc:
                error.__cause__ = exc
            self.turn_failed(request, error)
        self.counters.cell().restarts += 1
        if self.dispatcher.running:
            SessionActor.start(cell=cell, supervisor=self)

    # -- shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Fail every queued and running turn, stop every actor, save every session."""
        self._stopping.set()
        self._wake.set()
        stopped = _stopped()
        with self._lock:
            cells = list(self._cells.values())
        for cell in cells:
            for envelope in cell.inbox.close():
                message = envelope.message
                if isinstance(message, TurnRequest):
                    self.turn_failed(message, stopped)
                elif isinstance(message, PassivateRequest):
                    message.resolve(False)
                elif envelope.reply_to is not None:
                    envelope.reply_to.set_exception(exc_info=(type(stopped), stopped, None))
            actor = cell.actor
            if actor is not None:
                running = actor.current_request
                if running is not None:
                    self.turn_failed(
                        running, RuntimeStoppedError("the runtime stopped while a body was running")
                    )
                actor.actor_stopped.set()
            self.store.save(cell.data)
        if self._sweeper is not None:
            self._sweeper.join(1.0)


def _stopped() -> RuntimeStoppedError:
    return RuntimeStoppedError("the runtime stopped before this event was handled")
