"""The supervisor: routes events to session actors, activates them, replaces dead ones.

Routing is a dictionary lookup done by the sending thread, not a message to a shared actor, so
no single mailbox sits on every event's path. Activation takes a lock only when a session is
not found, and looks again under it, so concurrent first events for one session create exactly
one cell and one actor; the first turn the actor runs opens the session (runs the initial body)
exactly once, whichever event it is.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING

from pykka._envelope import Envelope

from runtime.actors._session_actor import (
    SessionActor,
    SessionCell,
    TurnRequest,
    fail_future,
)
from runtime.errors import RuntimeStoppedError, SessionCrashedError
from runtime.log import get_logger
from runtime.session import Session, SessionData

if TYPE_CHECKING:
    from runtime.actors._dispatcher import Dispatcher
    from runtime.engine import Engine, TurnOutcome
    from runtime.stats import Counters

__all__ = ["Supervisor"]


class Supervisor:
    """Own every session cell of one Runtime.

    Args:
        engine: runs turns of the bot.
        dispatcher: the pool session actors run on.
        counters: the Runtime's counters.
    """

    def __init__(self, engine: Engine, dispatcher: Dispatcher, counters: Counters) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.counters = counters
        self._cells: dict[str, SessionCell] = {}
        self._lock = threading.Lock()
        self._log = get_logger()

    def __len__(self) -> int:
        return len(self._cells)

    def session_ids(self) -> list[str]:
        """Return the ids of every session held."""
        with self._lock:
            return list(self._cells)

    def get(self, session_id: str) -> SessionCell | None:
        """Return the session's cell, or None if the session is unknown."""
        return self._cells.get(session_id)

    def route(self, session_id: str) -> SessionCell:
        """Return the session's cell, activating the session on first contact."""
        cell = self._cells.get(session_id)
        if cell is not None:
            return cell
        with self._lock:
            cell = self._cells.get(session_id)
            if cell is None:
                data = SessionData(session_id)
                cell = SessionCell(data, Session(data, self.engine.bot))
                SessionActor.start(cell=cell, supervisor=self)
                self._cells[session_id] = cell
        return cell

    def deliver(self, session_id: str, request: TurnRequest) -> None:
        """Queue ``request`` on the session's inbox (the event is already accepted).

        Raises:
            RuntimeStoppedError: the runtime stopped meanwhile; the caller's future is failed.
        """
        cell = self.route(session_id)
        try:
            cell.inbox.put(Envelope(request))
        except Exception as exc:  # the inbox closed: stop() ran between accept and put
            self.turn_failed(request, RuntimeStoppedError("the runtime stopped"))
            raise RuntimeStoppedError("the runtime stopped before the event was queued") from exc

    def ask(self, session_id: str, message: object, timeout: float) -> object:
        """Put ``message`` in the session's inbox and wait for the actor's answer.

        Raises:
            TimeoutError: no answer within ``timeout`` seconds.
        """
        import pykka  # noqa: PLC0415

        cell = self._cells.get(session_id)
        if cell is None:
            return None
        future: pykka.Future[object] = pykka.ThreadingFuture()
        try:
            cell.inbox.put(Envelope(message, reply_to=future))
        except pykka.ActorDeadError as exc:
            raise RuntimeStoppedError("the runtime stopped") from exc
        try:
            return future.get(timeout=timeout)
        except pykka.Timeout as exc:
            raise TimeoutError(
                f"session {session_id!r} did not answer within {timeout} s "
                "(a body is still running?)"
            ) from exc

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

    def turn_failed(self, request: TurnRequest, exc: BaseException) -> None:
        """Count a failed turn, then fail its future (unless something resolved it first)."""
        cell = self.counters.cell()
        cell.failures += 1
        if not fail_future(request.future, exc):
            cell.failures -= 1

    def turn_cancelled(self) -> None:
        """Count a turn whose caller cancelled its future before it ran."""
        self.counters.cell().failures += 1

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
        """Fail every queued and running turn with RuntimeStoppedError and stop every actor."""
        stopped = RuntimeStoppedError("the runtime stopped before this event was handled")
        with self._lock:
            cells = list(self._cells.values())
        for cell in cells:
            for envelope in cell.inbox.close():
                message = envelope.message
                if isinstance(message, TurnRequest):
                    self.turn_failed(message, stopped)
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
