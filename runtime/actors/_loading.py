"""Loading a session from the store: its turns, and the error a failed load gives its events.

A session actor loads its session on start (and again after a failed durable write left it
stale); these functions do the loading and describe a failed first load, so the actor only
decides what happens next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.errors import StoreCorruptError, StoreError, StoreUnavailableError, describe_exception
from runtime.session import SessionData
from runtime.turn import Checkpoint, SessionTurns

if TYPE_CHECKING:
    from runtime.actors._context import ActorContext

__all__ = ["load_error", "load_turns"]


def load_turns(ctx: ActorContext, session_id: str) -> tuple[SessionTurns, bool]:
    """Load the session from the store; return its turns and whether it was stored.

    A session the store does not have starts new. Raises what the store or the decoding
    raises (``on_start`` turns it into :func:`load_error`; a reload after a failed write,
    ``SessionActor._fresh_turns``, wraps it itself).
    """
    persistence = ctx.persistence
    stored = ctx.store.load(session_id)
    if stored is None:
        record = SessionData(session_id)
    elif persistence is not None and persistence.standalone:
        record = stored  # decoded just now: shares nothing with the store
    else:
        # The live record must not be the store's object (an in-memory store keeps it):
        # copy it, so only commits ever reach the store.
        record = Checkpoint(stored).standalone(session_id, stored.replies_by_message_id)
    turns = SessionTurns(
        ctx.engine,
        record,
        max_history=ctx.max_history,
        persistence=persistence,
        message_id_window=ctx.message_id_window,
    )
    return turns, stored is not None


def load_error(session_id: str, exc: BaseException) -> StoreError:
    """Return the error the events of a session whose load failed with ``exc`` fail with."""
    error: StoreError
    if isinstance(exc, StoreCorruptError):
        # Retrying cannot help; the record stays in the store, untouched, for repair.
        error = StoreCorruptError(
            session_id, f"{exc.reason}; the event was not handled and the record was kept"
        )
    else:
        error = StoreUnavailableError(
            f"loading session {session_id!r} from the store failed: "
            f"{describe_exception(exc)}; the event was not handled (retry: the next "
            "event loads it again)"
        )
    error.__cause__ = exc
    return error
