"""The session actor: loads one session, runs its turns one at a time, in arrival order.

Each turn goes through the one commit point (:class:`runtime.turn.SessionTurns`): the turn's
future resolves only after its effects are committed, and fails only if none of them are. Three
things may fail a turn from outside while its body runs: ``stop()`` and ``turn_timeout`` mark it
*abandoned* (under the cell's lock) and fail its future; the actor then rolls the turn back when
the body returns instead of committing it.

A ``BaseException`` from a body (``SystemExit``...) or an exception escaping the bot logic (a bug
of ours) *crashes* the turn: it is rolled back, its future fails with ``SessionCrashedError``,
and the actor replaces itself with a fresh one on the same cell, which adopts the inbox and the
committed state, so queued events go on and other sessions never notice.
"""

from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._pooled import PooledActor
from runtime.actors._requests import (
    SNAPSHOT,
    ForgetRequest,
    PassivateRequest,
    Settlement,
    TurnRequest,
)
from runtime.errors import (
    RuntimeStoppedError,
    SessionCrashedError,
    SessionValueError,
    StoreError,
    TurnTimeoutError,
    describe_exception,
)
from runtime.log import get_logger
from runtime.session import SessionData
from runtime.turn import Checkpoint, SessionTurns

if TYPE_CHECKING:
    from runtime.actors._directory import Directory
    from runtime.actors._dispatcher import Dispatcher
    from runtime.engine import Engine
    from runtime.stats import Counters
    from runtime.store import SessionStore
    from runtime.subscriptions import Subscriptions

__all__ = ["ActorContext", "SessionActor", "save_quietly"]

# Read on every turn; an enum member read from its class costs ~75 ns.
_LIVE = Lifecycle.LIVE
_CLOSED = Lifecycle.CLOSED


@dataclass(frozen=True, slots=True)
class ActorContext:
    """What every session actor of one runtime needs (narrow parts, none of them its creator)."""

    dispatcher: Dispatcher
    engine: Engine
    store: SessionStore
    directory: Directory
    settlement: Settlement
    counters: Counters
    subscriptions: Subscriptions
    max_history: int | None
    turn_timeout: float | None
    durable: bool  # save every committed turn to the store (a durable store)
    commits: threading.Condition  # notified when a commit ends after stop() closed its cell


class SessionActor(PooledActor):
    """Own one session's cell: load it, run its turns, passivate or forget it.

    Args:
        cell: the session's cell (inbox to adopt; committed state once loaded).
        context: the runtime's shared parts.
    """

    def __init__(self, *, cell: SessionCell, context: ActorContext) -> None:
        super().__init__(dispatcher=context.dispatcher, inbox=cell.inbox)
        self._cell = cell
        self._ctx = context
        cell.actor = self

    # -- activation -------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the session from the store (a new session if it has none); first, once."""
        cell = self._cell
        if cell.turns is not None:
            return  # a replacement: the session is loaded already
        ctx = self._ctx
        try:
            stored = ctx.store.load(cell.id)
            if stored is None:
                record = SessionData(cell.id)
            else:
                # The live record must not be the store's object (an in-memory store keeps
                # it): copy it, so only commits ever reach the store.
                record = Checkpoint(stored).record(cell.id, stored.replies_by_message_id)
            persist = ctx.store.save if ctx.durable else None
            turns = SessionTurns(ctx.engine, record, max_history=ctx.max_history, persist=persist)
        except BaseException as exc:  # the store failed (CancelledError too), or a bad record
            self._activation_failed(exc)
            return
        counts = ctx.counters.cell()
        counts.activations += 1
        if stored is not None:
            counts.rehydrations += 1
            ctx.counters.passivated.discard(cell.id)
        with cell.lock:
            cell.turns = turns
            if cell.lifecycle is Lifecycle.ACTIVATING:
                cell.lifecycle = _LIVE

    def _activation_failed(self, exc: BaseException) -> None:
        cell = self._cell
        error = StoreError(
            f"loading session {cell.id!r} from the store failed: {describe_exception(exc)}; "
            "the event was not handled (retry: the next event loads it again)"
        )
        error.__cause__ = exc
        get_logger(session_id=cell.id).error("session_load_failed", error=describe_exception(exc))
        self._ctx.counters.cell().store_errors += 1
        for message in self._ctx.directory.discard(cell, error):
            self._fail_message(message, error)
        self.actor_stopped.set()

    # -- messages ---------------------------------------------------------------------------

    def on_tell(self, message: Any) -> None:
        """Run a turn, or a passivation or forget request (queued with ``tell``)."""
        if type(message) is TurnRequest:  # nearly every message: checked first
            self._run(message)
        else:
            self.on_receive(message)

    def on_receive(self, message: Any) -> Any:
        """Answer a snapshot, passivation or forget request."""
        turns = self._cell.turns
        assert turns is not None  # messages are only handled once on_start loaded the session
        try:
            if message is SNAPSHOT:
                return turns.snapshot()
            if isinstance(message, PassivateRequest):
                self._passivate(turns, message)
                return None
            if isinstance(message, ForgetRequest):
                self._forget(turns, message)
                return None
        except Exception:
            raise
        except BaseException as exc:
            # Never let a BaseException reach pykka, which would stop every actor in the process.
            raise SessionCrashedError(f"{type(exc).__name__} in session {self._cell.id!r}") from exc
        return super().on_receive(message)

    def _run(self, request: TurnRequest) -> None:
        ctx = self._ctx
        cell = self._cell
        try:
            # Running before the future says so: stop() fails what it finds running or queued,
            # and this request is in neither place once popped. After the write, either stop()
            # sees it or this sees CLOSED (stop writes CLOSED before it reads `running`).
            cell.running = request
            if cell.lifecycle is _CLOSED:
                cell.running = None
                ctx.settlement.fail(request, RuntimeStoppedError("the runtime stopped"))
                return
            try:
                if not request.future.set_running_or_notify_cancel():
                    cell.running = None
                    ctx.settlement.cancelled()
                    return  # the caller cancelled it before it ran
            except RuntimeError:
                cell.running = None
                return  # stop() failed it meanwhile; already counted
            turns = cell.turns
            assert turns is not None
            event = request.event
            try:
                outcome = turns.execute(event)  # rolls back itself if it raises
                prepared = turns.prepare(event, outcome)  # copies: still abandonable
            except SessionValueError as exc:
                cell.running = None
                self._commit_failed(request, exc)
                return
            except BaseException as exc:  # SystemExit from a body, a bug of ours
                cell.running = None
                self._crashed(request, exc)
                return
            with cell.lock:  # the claim: from here on, stop() and turn_timeout let it finish
                cell.running = None
                claimed = not request.abandoned and cell.lifecycle is _LIVE
                if claimed:
                    cell.committing = request
            if not claimed:
                turns.rollback()
                self._commit_failed(
                    request, RuntimeStoppedError("the runtime stopped while a body was running")
                )
                return
            try:
                turns.install(event, outcome, prepared)  # a durable store's save: may be slow
            except StoreError as exc:
                cell.committing = None
                if cell.lifecycle is _CLOSED:
                    self._commit_ended_after_stop(cell)
                self._commit_failed(request, exc)
                return
            cell.committing = None
            if cell.lifecycle is _CLOSED:  # read after the write: see the comment above
                self._commit_ended_after_stop(cell)
            if not outcome.duplicate:
                # Before the future: when a caller sees its replies, subscribers have them too.
                ctx.subscriptions.publish(event, outcome.replies)
            ctx.settlement.succeed(request, outcome)
        except BaseException as exc:  # a bug of ours outside the bot's code: never drop it
            cell.running = None
            self._crashed(request, exc)

    def _commit_ended_after_stop(self, cell: SessionCell) -> None:
        """Save the session stop() may have given up waiting for, and wake stop()."""
        ctx = self._ctx
        if not ctx.durable and cell.turns is not None:
            # stop() may have stopped waiting for us (its deadline): save what we committed.
            save_quietly(ctx.store, cell, ctx.counters)
        with ctx.commits:
            ctx.commits.notify_all()

    def _commit_failed(self, request: TurnRequest, error: BaseException) -> None:
        counts = self._ctx.counters.cell()
        if request.abandoned:
            # Whoever abandoned it failed its future (this only settles a lost race).
            self._ctx.settlement.fail(request, error)
            return
        if isinstance(error, StoreError):
            counts.store_errors += 1
        elif isinstance(error, SessionValueError):
            counts.value_errors += 1
        if not isinstance(error, RuntimeStoppedError):
            self._log(request).error("turn_not_committed", error=describe_exception(error))
        self._ctx.settlement.fail(request, error)

    def _crashed(self, request: TurnRequest | None, exc: BaseException | None) -> None:
        """Fail the crashed turn and hand the cell to a fresh actor."""
        cell = self._cell
        cause = exc.__cause__ if isinstance(exc, SessionCrashedError) and exc.__cause__ else exc
        described = "unknown" if cause is None else describe_exception(cause)
        self._log(request).error(
            "session_actor_died",
            error=described,
            detail="turn rolled back; actor replaced; queued events go on",
        )
        ctx = self._ctx
        if request is not None and not request.abandoned:
            name = "an exception" if cause is None else type(cause).__name__
            error = SessionCrashedError(
                f"session {cell.id!r}: {name} raised while handling a "
                f"{request.event.kind.value} event; the turn was rolled back"
            )
            error.__cause__ = cause
            ctx.settlement.fail(request, error)
        ctx.counters.cell().restarts += 1
        self.actor_stopped.set()
        if ctx.dispatcher.running and cell.lifecycle is not _CLOSED:
            SessionActor.start(cell=cell, context=ctx)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Replace this actor after a failure outside a turn (a bug of ours)."""
        self._crashed(None, exception_value)

    # -- passivation and forgetting ---------------------------------------------------------

    def _passivate(self, turns: SessionTurns, request: PassivateRequest) -> None:
        cell = self._cell
        with cell.lock:
            cell.passivation = None
        if cell.touched != request.touched:
            request.resolve(False)  # an event arrived after the request: stay live
            return
        ctx = self._ctx
        if turns.committed.state is None:
            # Never opened (its only turns failed): nothing to keep. Drop it, store nothing.
            if ctx.directory.remove(cell, if_touched=request.touched):
                self.actor_stopped.set()
            request.resolve(False)
            return
        try:
            ctx.store.save(turns.saved_record())
        except BaseException as exc:  # CancelledError from a store too
            request.fail(self._store_failed("save", exc, "it stays live; passivation retries"))
            return
        if ctx.directory.remove(cell, if_touched=request.touched):
            ctx.counters.cell().passivations += 1
            ctx.counters.passivated.add(cell.id)
            self.actor_stopped.set()
            request.resolve(True)
        else:
            request.resolve(False)

    def _forget(self, turns: SessionTurns, request: ForgetRequest) -> None:
        cell = self._cell
        ctx = self._ctx
        with cell.lock:  # wiped before the delete: a concurrent stop() saves nothing of it
            if cell.lifecycle is _CLOSED:
                request.fail(RuntimeStoppedError("the runtime stopped before the forget"))
                return
            existed = turns.committed.state is not None
            undo = turns.wipe()
        try:
            ctx.store.delete(cell.id)
        except BaseException as exc:  # CancelledError from a store too
            with cell.lock:
                turns.unwipe(undo)
                closed = cell.lifecycle is _CLOSED
            if closed and not ctx.durable:
                save_quietly(ctx.store, cell, ctx.counters)  # stop() skipped the wiped session
            request.fail(self._store_failed("delete", exc, "nothing was forgotten"))
            return
        ctx.counters.passivated.discard(cell.id)
        if existed:
            ctx.counters.cell().forgotten += 1
        if ctx.directory.remove(cell):
            self.actor_stopped.set()
        request.resolve(existed)

    def _store_failed(self, operation: str, exc: BaseException, outcome: str) -> StoreError:
        cell_id = self._cell.id
        self._ctx.counters.cell().store_errors += 1
        get_logger(session_id=cell_id).error(
            f"session_{operation}_failed", error=describe_exception(exc), detail=outcome
        )
        error = StoreError(
            f"{operation} of session {cell_id!r} failed: {describe_exception(exc)}; {outcome}"
        )
        error.__cause__ = exc
        return error

    # -- from outside the actor -------------------------------------------------------------

    def on_overrun(self, thread_id: int, unit: int) -> None:
        """Fail the turn that ran past ``turn_timeout`` (called by the dispatcher's monitor)."""
        cell = self._cell
        with cell.lock:  # held only for a few reads and writes, never around user code
            request = cell.running  # None while a claimed turn commits: it is finishing
            if request is None or request.abandoned or unit != self._pooled_unit:
                return  # no turn, or not the unit that overran (a slow load before it)
            request.abandoned = True
        frame = sys._current_frames().get(thread_id)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else None
        timeout = self._ctx.turn_timeout
        self._log(request).error(
            "turn_timed_out",
            turn_timeout=timeout,
            stack=stack,
            detail="the future failed; the turn is rolled back when its body returns",
        )
        self._ctx.counters.cell().turn_timeouts += 1
        self._ctx.settlement.fail(
            request,
            TurnTimeoutError(
                f"session {cell.id!r}: the {request.event.kind.value} event's turn ran longer "
                f"than turn_timeout={timeout} s; it will be rolled back when its body returns"
            ),
        )

    def on_leftover(self, message: object) -> None:
        """Fail what was still queued when the actor stopped for good."""
        self._fail_message(
            message, RuntimeStoppedError("the session's actor stopped before this event")
        )

    def _fail_message(self, message: object, error: BaseException) -> None:
        if isinstance(message, TurnRequest):
            self._ctx.settlement.fail(message, error)
        elif isinstance(message, ForgetRequest):
            message.fail(error)
        elif isinstance(message, PassivateRequest):
            message.resolve(False)

    def _log(self, request: TurnRequest | None) -> Any:
        turns = self._cell.turns
        return get_logger(
            session_id=self._cell.id,
            state=None if turns is None else turns.record.state,
            event_kind=None if request is None else request.event.kind.value,
        )


def save_quietly(store: SessionStore, cell: SessionCell, counters: Counters) -> bool:
    """Save ``cell``'s committed state (if opened); log and count a failure; never raise."""
    turns = cell.turns
    if turns is None or turns.committed.state is None:
        return True
    try:
        store.save(turns.saved_record())
    except BaseException as exc:  # CancelledError too: stop() must go on
        counters.cell().store_errors += 1
        get_logger(session_id=cell.id).error("session_save_failed", error=describe_exception(exc))
        return False
    return True
