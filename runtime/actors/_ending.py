"""How a turn ends once its body returned: committed (published, settled) or failed (counted,
logged, settled).

A session actor claims a turn once its body returned (from then on ``stop()`` and
``turn_timeout`` let it finish); a claimed turn ends here, on the actor's thread or, for a
durable write, in :class:`~runtime.actors._written.WrittenTurn` once the store answered.
:func:`commit_failed` also ends the turns that were never claimed (a value that cannot be
copied, a stop while the body ran). :func:`turn_log` is the session's logger, which the actor
uses too. These functions need only the session's cell and the runtime's shared parts, not the
actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._moves import save_quietly
from runtime.errors import RuntimeStoppedError, SessionValueError, StoreError, describe_exception
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.actors._context import ActorContext
    from runtime.actors._requests import TurnRequest
    from runtime.engine import TurnOutcome

__all__ = ["commit_failed", "committed", "turn_log", "write_ended"]

# Read on every turn; an enum member read from its class costs ~75 ns.
_CLOSED = Lifecycle.CLOSED


def committed(
    cell: SessionCell, ctx: ActorContext, request: TurnRequest, outcome: TurnOutcome
) -> None:
    """End a claimed turn whose commit succeeded: publish it, settle its future."""
    cell.committing = None
    cell.crashes = 0
    # Read after the write: stop() writes CLOSED before it waits for ``committing`` to be None
    # (ThreadsBackend._close_cell), so either it sees None or this sees CLOSED and wakes it.
    if cell.lifecycle is _CLOSED:
        _ended_after_stop(cell, ctx)
    if ctx.subscriptions.active and not outcome.duplicate:
        # After the commit (the durable write), before the future: when a caller sees its
        # replies, subscribers have them too.
        ctx.subscriptions.publish(request.event, outcome.replies)
    ctx.settlement.succeed(request, outcome)


def write_ended(
    cell: SessionCell,
    ctx: ActorContext,
    request: TurnRequest,
    outcome: TurnOutcome,
    error: StoreError | None,
) -> None:
    """End a claimed turn: its commit succeeded (``error`` None) or was rolled back."""
    if error is None:
        committed(cell, ctx, request, outcome)
        return
    cell.committing = None
    if cell.lifecycle is _CLOSED:  # read after the write: see committed()
        _ended_after_stop(cell, ctx)
    commit_failed(cell, ctx, request, error)


def commit_failed(
    cell: SessionCell, ctx: ActorContext, request: TurnRequest, error: BaseException
) -> None:
    """Fail a turn that committed nothing with ``error``: count it, log it, settle it."""
    if request.abandoned:
        # Whoever abandoned it failed its future (this only settles a lost race).
        ctx.settlement.fail(request, error)
        return
    counts = ctx.counters.cell()
    if isinstance(error, StoreError):
        counts.store_errors += 1
    elif isinstance(error, SessionValueError):
        counts.value_errors += 1
    if not isinstance(error, RuntimeStoppedError):
        turn_log(cell, request).error("turn_not_committed", error=describe_exception(error))
    ctx.settlement.fail(request, error)


def turn_log(cell: SessionCell, request: TurnRequest | None) -> Any:
    """Return a logger bound to the session, its state and the event's kind."""
    turns = cell.turns
    return get_logger(
        session_id=cell.id,
        state=None if turns is None else turns.record.state,
        event_kind=None if request is None else request.kind.value,
    )


def _ended_after_stop(cell: SessionCell, ctx: ActorContext) -> None:
    """Save the session stop() may have given up waiting for, and wake stop()."""
    if ctx.persistence is None and cell.turns is not None:
        # stop() may have stopped waiting for us (its deadline): save what we committed.
        save_quietly(ctx.store, cell, ctx.counters)
    with ctx.commits:
        ctx.commits.notify_all()
