"""The session actor: loads one session, runs its turns one at a time, in arrival order.

Each turn goes through the one commit point (:class:`runtime.turn.SessionTurns`): the turn's
future resolves only after its effects are committed (written, with a durable store: the
session is held meanwhile, see :class:`WrittenTurn`), and fails only if none of them are (or,
after a lost store reply, ``maybe_committed``: the session then reloads from the store). Three
things may fail a turn from outside while its body runs: ``stop()`` and ``turn_timeout`` mark it
*abandoned* (under the cell's lock) and fail its future; the actor then rolls the turn back when
the body returns instead of committing it.

A ``BaseException`` from a body (``SystemExit``...) or an exception escaping the bot logic (a bug
of ours) *crashes* the turn: it is rolled back, its future fails with ``SessionCrashedError``,
and the actor replaces itself with a fresh one on the same cell, which adopts the inbox and the
committed state, so queued events go on and other sessions never notice.

How a turn ends (committed, or failed and counted) is in :mod:`runtime.actors._ending`, and
how a session is loaded in :mod:`runtime.actors._loading`.
"""

from __future__ import annotations

import sys
import traceback
from concurrent.futures._base import PENDING as _PENDING
from concurrent.futures._base import RUNNING as _RUNNING
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pykka

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._context import ActorContext
from runtime.actors._ending import commit_failed, committed, turn_log, write_ended
from runtime.actors._loading import load_error, load_turns
from runtime.actors._moves import forget, passivate
from runtime.actors._pooled import PooledActor
from runtime.actors._requests import (
    SNAPSHOT,
    ForgetRequest,
    PassivateRequest,
    TurnRequest,
)
from runtime.actors._supervision import crash_error, restart_delay
from runtime.actors._written import WrittenTurn
from runtime.errors import (
    RuntimeStoppedError,
    SessionCrashedError,
    SessionValueError,
    StoreError,
    StoreUnavailableError,
    TurnTimeoutError,
    describe_exception,
)
from runtime.log import get_logger
from runtime.turn import SessionTurns

if TYPE_CHECKING:
    from runtime.engine import TurnOutcome

__all__ = ["SessionActor"]

# Read on every turn; an enum member read from its class costs ~75 ns.
_LIVE = Lifecycle.LIVE
_CLOSED = Lifecycle.CLOSED


class SessionActor(PooledActor):
    """Own one session's cell: load it, run its turns, passivate or forget it.

    Args:
        cell: the session's cell (inbox to adopt; committed state once loaded).
        context: the runtime's shared parts.
    """

    def __init__(self, *, cell: SessionCell, context: ActorContext) -> None:
        super().__init__(dispatcher=context.dispatcher, inbox=cell)
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
            turns, stored = load_turns(ctx, cell.id)
        except BaseException as exc:  # the store failed (CancelledError too), or a bad record
            self._activation_failed(exc)
            return
        counts = ctx.counters.cell()
        counts.activations += 1
        if stored:
            counts.rehydrations += 1
            ctx.counters.passivated.discard(cell.id)
        with cell.lock:
            cell.turns = turns
            if cell.lifecycle is Lifecycle.ACTIVATING:
                cell.lifecycle = _LIVE

    def _fresh_turns(self) -> SessionTurns:
        """Return the session's turns, reloaded first if a failed write left them stale.

        Raises:
            StoreError: the reload failed (the session stays stale; the next call retries).
        """
        cell = self._cell
        turns = cell.turns
        assert turns is not None  # messages are only handled once on_start loaded the session
        if not turns.stale:
            return turns
        try:
            turns, _ = load_turns(self._ctx, cell.id)
        except StoreError:
            self._ctx.counters.cell().store_errors += 1
            raise
        except BaseException as exc:
            self._ctx.counters.cell().store_errors += 1
            raise StoreUnavailableError(
                f"reloading session {cell.id!r} after a failed save failed: "
                f"{describe_exception(exc)}; the event was not handled"
            ) from exc
        with cell.lock:
            stale, cell.turns = cell.turns, turns
        del stale  # freed outside the lock (shared with other cells): user __del__ may run
        return turns

    def _activation_failed(self, exc: BaseException) -> None:
        cell = self._cell
        error = load_error(cell.id, exc)
        get_logger(session_id=cell.id).error("session_load_failed", error=describe_exception(exc))
        self._ctx.counters.cell().store_errors += 1
        for message in self._ctx.directory.discard(cell, error):
            self._fail_message(message, error)
        self.actor_stopped.set()

    # -- messages ---------------------------------------------------------------------------

    def _on_other_tell(self, message: Any) -> None:
        """End a written turn, or answer a passivation or forget request."""
        if type(message) is WrittenTurn:
            message.complete()
        else:
            self.on_receive(message)

    def on_receive(self, message: Any) -> Any:
        """Answer a snapshot, passivation or forget request."""
        if message is SNAPSHOT:
            return self._fresh_turns().snapshot()  # a StoreError goes to the asker
        turns = self._cell.turns  # stale or not: the store has every commit already
        assert turns is not None  # messages are only handled once on_start loaded the session
        try:
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

    def on_tell(self, request: Any) -> None:  # noqa: PLR0912  # one function: every event
        """Run a turn: the path of every event (the few other messages go elsewhere first).

        The common case (a first attempt, a live cell, a fresh session, no durable store) runs
        inline, one call for the whole turn; the rest goes through the helpers.
        """
        if type(request) is not TurnRequest:  # a written turn, passivation, forget
            self._on_other_tell(request)
            return
        cell = self._cell
        try:
            cell.running = request
            if cell.lifecycle is _CLOSED or request.attempts:
                started = self._start(request)
            else:
                # ReplyFuture.set_running_or_notify_cancel's common case, inline.
                with request._condition:
                    started = request._state is _PENDING
                    if started:
                        request._state = _RUNNING
                if not started:
                    started = self._start_future(request)
            if not started:
                return
            turns = cell.turns
            assert turns is not None  # turns run only once on_start loaded the session
            if turns.stale:  # a failed durable write: reload first (rare; off the hot path)
                reloaded = self._reload(request)
                if reloaded is None:
                    return
                turns = reloaded
            try:
                outcome = turns.execute(request)  # rolls back itself if it raises
                prepared = turns.prepare(request, outcome)  # copies, encodes: still abandonable
            except SessionValueError as exc:
                cell.running = None
                commit_failed(cell, self._ctx, request, exc)
                return
            except BaseException as exc:  # SystemExit from a body, a bug of ours
                cell.running = None
                self._crashed(request, exc, retry=True)  # rolled back: nothing committed
                return
            with cell.lock:  # the claim: from here on, stop() and turn_timeout let it finish
                cell.running = None
                claimed = not request.abandoned and cell.lifecycle is _LIVE
                if claimed:
                    cell.committing = request
            if not claimed:
                turns.rollback()
                stopped = RuntimeStoppedError("the runtime stopped while a body was running")
                commit_failed(cell, self._ctx, request, stopped)
                return
            if turns.persistence is not None:
                self._install(request, turns, outcome, prepared)
                return
            turns.finish(request, outcome, prepared)  # nothing to write: commit in memory
            committed(cell, self._ctx, request, outcome)
        except BaseException as exc:  # a bug of ours outside the bot's code: never drop it
            cell.running = None
            self._crashed(request, exc)

    def _reload(self, request: TurnRequest) -> SessionTurns | None:
        """Reload a stale session for ``request``; None (its future failed) if that failed."""
        try:
            return self._fresh_turns()
        except StoreError as exc:
            self._cell.running = None
            self._ctx.settlement.fail(request, exc)
            return None

    def _start_future(self, request: TurnRequest) -> bool:
        """Settle a first attempt whose future was not pending; False: it must not run.

        ``on_tell`` found the future cancelled by its caller, or failed by stop() meanwhile.
        """
        try:
            if request.set_running_or_notify_cancel():
                return True
            self._cell.running = None
            self._ctx.settlement.cancelled()
            return False  # the caller cancelled it before it ran
        except RuntimeError:
            self._cell.running = None
            return False  # stop() failed it meanwhile; already counted

    def _start(self, request: TurnRequest) -> bool:
        """Mark a retry, or a request whose cell closed, running; False if it must not run.

        ``cell.running`` is set first (by the caller): stop() fails what it finds running or
        queued, and this request is in neither place once popped. After the write, either
        stop() sees it or this sees CLOSED (stop writes CLOSED before it reads `running`).
        """
        cell = self._cell
        if cell.lifecycle is _CLOSED:
            cell.running = None
            self._ctx.settlement.fail(request, RuntimeStoppedError("the runtime stopped"))
            return False
        # A retry (its future is running already), unless stop() failed it meanwhile.
        if request.done():
            cell.running = None
            return False
        return True

    def _install(
        self, request: TurnRequest, turns: SessionTurns, outcome: TurnOutcome, prepared: Any
    ) -> None:
        """Commit the claimed turn and settle it; a durable write does not hold the thread.

        With a store that writes in the background, the session is held (it runs nothing
        else) and this thread goes on with other sessions; the store's writer thread hands
        the outcome back (:class:`WrittenTurn`) at the head of the inbox and releases the
        session, and a worker ends the turn before any later event of the session.
        """
        cell = self._cell
        ctx = self._ctx
        persistence = turns.persistence
        if persistence is None or prepared is None or not persistence.background:
            try:
                turns.install(request, outcome, prepared)
            except StoreError as exc:
                write_ended(cell, ctx, request, outcome, exc)
                return
            write_ended(cell, ctx, request, outcome, None)
            return
        written = WrittenTurn(cell, ctx, request, turns=turns, outcome=outcome, prepared=prepared)
        cell.hold()  # nothing else of this session runs until the write is durable
        try:
            persistence.submit(cell.id, turns.take_payload(), written.done)
        except BaseException as exc:  # the store could not even queue it (no thread...)
            cell.release()
            write_ended(cell, ctx, request, outcome, turns.write_failed(exc))

    def _crashed(
        self, request: TurnRequest | None, exc: BaseException | None, *, retry: bool = False
    ) -> None:
        """Settle or retry the crashed turn and hand the cell to a fresh actor.

        With ``retry`` (the turn was rolled back, nothing of it committed) the event goes back
        to the head of the inbox, unless it has now crashed ``poison_after`` times: then it is
        quarantined (its future fails with ``PoisonEventError``) and later events go on. The
        replacement starts after a backoff that doubles with each crash since the session's
        last commit (none after the first), so a session that keeps dying does not spin.
        """
        cell = self._cell
        ctx = self._ctx
        cause = exc.__cause__ if isinstance(exc, SessionCrashedError) and exc.__cause__ else exc
        described = "unknown" if cause is None else describe_exception(cause)
        cell.crashes += 1
        counts = ctx.counters.cell()
        counts.restarts += 1  # counted before any future settles: stats() add up at once
        retried = poisoned = False
        if request is not None and not request.abandoned:
            request.attempts += 1
            poisoned = retry and request.attempts >= ctx.poison_after
            if retry and not poisoned and cell.lifecycle is not _CLOSED:
                counts.retries += 1
                try:
                    cell.tell_first(request)
                    retried = True
                except pykka.ActorDeadError:
                    counts.retries -= 1  # closed meanwhile (stop): fail it below
            if poisoned:
                counts.poisoned += 1
        turn_log(cell, request).error(
            "session_actor_died",
            error=described,
            crashes=cell.crashes,
            detail="turn rolled back; actor replaced; "
            + ("the event is retried" if retried else "queued events go on"),
        )
        if request is not None and not request.abandoned and not retried:
            ctx.settlement.fail(request, crash_error(cell.id, request, cause, poisoned=poisoned))
        self.actor_stopped.set()
        if not ctx.dispatcher.running or cell.lifecycle is _CLOSED:
            return
        delay = restart_delay(cell.crashes, ctx.restart_backoff)
        if delay:
            cell.hold()  # the replacement waits for its backoff; events still queue
            SessionActor.spawn(cell=cell, context=ctx)
            ctx.timer.call_later(delay, cell.release)
        else:
            SessionActor.spawn(cell=cell, context=ctx)

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
        if passivate(self._cell, self._ctx, turns, request):
            self.actor_stopped.set()

    def _forget(self, turns: SessionTurns, request: ForgetRequest) -> None:
        if forget(self._cell, self._ctx, turns, request):
            self.actor_stopped.set()

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
        turn_log(cell, request).error(
            "turn_timed_out",
            turn_timeout=timeout,
            stack=stack,
            detail="the future failed; the turn is rolled back when its body returns",
        )
        self._ctx.counters.cell().turn_timeouts += 1
        self._ctx.settlement.fail(
            request,
            TurnTimeoutError(
                f"session {cell.id!r}: the {request.kind.value} event's turn ran longer "
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
