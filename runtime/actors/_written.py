"""A turn whose durable write is in flight: the session is held until the writer answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pykka

from runtime.actors._ending import write_ended
from runtime.errors import SessionCrashedError, describe_exception
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.actors._cell import SessionCell
    from runtime.actors._context import ActorContext
    from runtime.actors._requests import TurnRequest
    from runtime.engine import TurnOutcome
    from runtime.turn import SessionTurns

__all__ = ["WrittenTurn"]


class WrittenTurn:
    """A turn whose durable write was submitted; it ends when the store's writer answers.

    :meth:`done` runs on the writer thread: it puts this object at the head of the session's
    inbox and releases the session, so :meth:`complete` (the commit or the rollback, the
    subscribers, the future) runs on a worker before any later event of the session. If
    ``stop()`` closed the inbox meanwhile, it completes on the writer thread, or on
    ``stop()``'s thread when it finds it left in the inbox.
    """

    __slots__ = ("_cell", "_ctx", "error", "outcome", "prepared", "request", "turns")

    def __init__(
        self,
        cell: SessionCell,
        ctx: ActorContext,
        request: TurnRequest,
        *,
        turns: SessionTurns,
        outcome: TurnOutcome,
        prepared: Any,
    ) -> None:
        self._cell = cell
        self._ctx = ctx
        self.request = request
        self.turns = turns
        self.outcome = outcome
        self.prepared = prepared
        self.error: BaseException | None = None

    def done(self, error: BaseException | None) -> None:
        """Hear the write's outcome (on the store's writer thread); hand it to the session.

        The turn ends on a worker, never here: subscribers and future callbacks are user code
        and must not hold up the writer (which every session's commits wait for).
        """
        self.error = error
        cell = self._cell
        try:
            cell.tell_first(self)
        except pykka.ActorDeadError:
            self.complete()  # stop() closed the inbox: end it here (stop() waits for it)
            return
        cell.release()

    def complete(self) -> None:
        """Commit the turn (its write is durable) or roll it back; settle its future."""
        try:
            self._complete()
        except BaseException as exc:  # a bug of ours: the future must still settle
            cell_id = self._cell.id
            get_logger(session_id=cell_id).error(
                "turn_completion_failed", error=describe_exception(exc)
            )
            crashed = SessionCrashedError(
                f"ending the turn of session {cell_id!r} failed: {describe_exception(exc)}"
            )
            crashed.__cause__ = exc
            self._ctx.settlement.fail(self.request, crashed)  # no-op if settled

    def _complete(self) -> None:
        turns = self.turns
        if self.error is None:
            turns.finish(self.request, self.outcome, self.prepared)
            error = None
        else:
            error = turns.write_failed(self.error)
        write_ended(self._cell, self._ctx, self.request, self.outcome, error)
