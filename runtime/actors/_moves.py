"""Moving a live session out: passivation (to the store) and forgetting (erased everywhere).

Both run on the session's actor, in turn order, so they see the state after every event sent
before them. Each returns whether the session left the routing table (its actor then stops).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.errors import RuntimeStoppedError, StoreUnavailableError, describe_exception
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.actors._context import ActorContext
    from runtime.actors._requests import ForgetRequest, PassivateRequest
    from runtime.stats import Counters
    from runtime.store import SessionStore
    from runtime.turn import SessionTurns

__all__ = ["forget", "passivate", "save_quietly"]

_CLOSED = Lifecycle.CLOSED


def passivate(
    cell: SessionCell, ctx: ActorContext, turns: SessionTurns, request: PassivateRequest
) -> bool:
    """Save the session (unless a durable store has it already) and drop it from memory."""
    with cell.lock:
        cell.passivation = None
    if cell.touched != request.touched:
        request.resolve(False)  # an event arrived after the request: stay live
        return False
    if turns.state is None:
        # Never opened (its only turns failed): nothing to keep. Drop it, store nothing.
        removed = ctx.directory.remove(cell, if_touched=request.touched)
        request.resolve(False)
        return removed
    if ctx.persistence is None:  # a durable store has every commit already
        try:
            ctx.store.save(turns.saved_record())
        except BaseException as exc:  # CancelledError from a store too
            request.fail(
                _store_failed(
                    cell.id, ctx.counters, "save", exc, "it stays live; passivation retries"
                )
            )
            return False
    if not ctx.directory.remove(cell, if_touched=request.touched):
        request.resolve(False)
        return False
    ctx.counters.cell().passivations += 1
    ctx.counters.passivated.add(cell.id)
    request.resolve(True)
    return True


def forget(
    cell: SessionCell, ctx: ActorContext, turns: SessionTurns, request: ForgetRequest
) -> bool:
    """Erase the session from memory and from the store (all of it or, on failure, nothing)."""
    with cell.lock:  # wiped before the delete: a concurrent stop() saves nothing of it
        closed = cell.lifecycle is _CLOSED
        if not closed:
            existed = turns.state is not None
            undo = turns.wipe()
    if closed:  # outside the lock: failing a future runs its callbacks
        request.fail(RuntimeStoppedError("the runtime stopped before the forget"))
        return False
    try:
        ctx.store.delete(cell.id)
    except BaseException as exc:  # CancelledError from a store too
        with cell.lock:
            turns.unwipe(undo)  # the committed state back (no user code under the lock)
            closed = cell.lifecycle is _CLOSED
        turns.rollback()  # the live record back to it (copies may run user __deepcopy__)
        if closed and ctx.persistence is None:
            save_quietly(ctx.store, cell, ctx.counters)  # stop() skipped the wiped session
        request.fail(_store_failed(cell.id, ctx.counters, "delete", exc, "nothing was forgotten"))
        return False
    ctx.counters.passivated.discard(cell.id)
    if existed:
        ctx.counters.cell().forgotten += 1
    removed = ctx.directory.remove(cell)
    request.resolve(existed)
    return removed


def _store_failed(
    session_id: str, counters: Counters, operation: str, exc: BaseException, outcome: str
) -> StoreUnavailableError:
    counters.cell().store_errors += 1
    get_logger(session_id=session_id).error(
        f"session_{operation}_failed", error=describe_exception(exc), detail=outcome
    )
    error = StoreUnavailableError(
        f"{operation} of session {session_id!r} failed: {describe_exception(exc)}; {outcome}"
    )
    error.__cause__ = exc
    return error


def save_quietly(store: SessionStore, cell: SessionCell, counters: Counters) -> bool:
    """Save ``cell``'s committed state (if opened); log and count a failure; never raise."""
    turns = cell.turns
    if turns is None or turns.state is None:
        return True
    try:
        store.save(turns.saved_record())
    except BaseException as exc:  # CancelledError too: stop() must go on
        counters.cell().store_errors += 1
        get_logger(session_id=cell.id).error("session_save_failed", error=describe_exception(exc))
        return False
    return True
