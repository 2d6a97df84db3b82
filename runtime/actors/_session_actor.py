"""The session actor: owns one session and runs its turns one at a time, in arrival order."""

from __future__ import annotations

import concurrent.futures
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pykka
from pykka import messages

from runtime.actors._pooled import PooledActor, PooledInbox
from runtime.engine import TurnKind
from runtime.errors import RuntimeStoppedError, SessionCrashedError
from runtime.session import Session, SessionData

if TYPE_CHECKING:
    from runtime.actors._supervisor import Supervisor

__all__ = [
    "SNAPSHOT",
    "PassivateRequest",
    "SessionActor",
    "SessionCell",
    "TurnRequest",
    "fail_future",
]


class TurnRequest:
    """One accepted event on its way to a session actor, with the future to resolve."""

    __slots__ = ("future", "kind", "message_id", "payload")

    def __init__(
        self,
        kind: TurnKind,
        payload: Any,
        message_id: str | None,
        future: concurrent.futures.Future[list[str]],
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.message_id = message_id
        self.future = future


SNAPSHOT = object()
"""Ask a session actor for a ``SessionSnapshot`` (handled in turn order)."""


class PassivateRequest:
    """Ask a session actor to passivate if nothing arrived after this request.

    A cell has at most one queued at a time; later askers add their futures to it.
    """

    __slots__ = ("futures", "touched")

    def __init__(self, touched: int) -> None:
        self.touched = touched  # the cell's touch tick when the request was made
        self.futures: list[concurrent.futures.Future[bool]] = []

    def resolve(self, passivated: bool) -> None:
        """Tell every asker whether the session was passivated."""
        for future in self.futures:
            if not future.done():
                future.set_result(passivated)


def fail_future(future: concurrent.futures.Future[Any], exc: BaseException) -> bool:
    """Fail ``future`` unless it is already done; return whether this call failed it."""
    try:
        future.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        return False
    return True


class SessionCell:
    """A session's home in the supervisor: its data, its inbox, its current actor.

    The data and the inbox outlive actors: when an actor dies, its replacement adopts both, so
    neither the session's data nor its queued events are lost.
    """

    __slots__ = ("actor", "data", "inbox", "passivation", "session", "touched")

    def __init__(self, data: SessionData, session: Session, touched: int) -> None:
        self.data = data
        self.session = session
        self.inbox = PooledInbox()
        self.actor: SessionActor | None = None
        self.touched = touched  # the supervisor's clock tick of the last event sent here
        self.passivation: PassivateRequest | None = None  # the queued request, if any


class SessionActor(PooledActor):
    """Run one session's turns; replaced by the supervisor if it dies.

    Args:
        cell: the session's cell (data, Session view, inbox to adopt).
        supervisor: the supervisor that created it and resolves turns.
    """

    def __init__(self, *, cell: SessionCell, supervisor: Supervisor) -> None:
        super().__init__(dispatcher=supervisor.dispatcher, inbox=cell.inbox)
        self._cell = cell
        self._supervisor = supervisor
        self._current: tuple[TurnRequest, tuple[Any, ...]] | None = None
        cell.actor = self

    @property
    def current_request(self) -> TurnRequest | None:
        """The request whose turn is running now, if any."""
        current = self._current
        return None if current is None else current[0]

    def _handle_receive(self, message: Any) -> Any:
        # Turns are nearly every message: skip pykka's chain of isinstance checks for them.
        if type(message) is TurnRequest:
            self._run(message)
            return None
        return super()._handle_receive(message)

    def on_receive(self, message: Any) -> Any:
        """Run a turn, or answer a snapshot or passivation request."""
        if isinstance(message, TurnRequest):
            self._run(message)
            return None
        if message is SNAPSHOT:
            data = self._cell.data
            return None if data.state is None else data.snapshot()
        if isinstance(message, PassivateRequest):
            done = self._supervisor.passivate_cell(self._cell, message)
            if done:
                self._stop()
            message.resolve(done)
            return None
        return super().on_receive(message)

    def _run(self, request: TurnRequest) -> None:
        try:
            if not request.future.set_running_or_notify_cancel():
                self._supervisor.turn_cancelled()
                return  # the caller cancelled it before it ran
        except RuntimeError:
            return  # stop() failed it while it waited; already counted
        data = self._cell.data
        self._current = (request, data.checkpoint())
        try:
            outcome = self._supervisor.engine.run_turn(
                self._cell.session, request.kind, request.payload, request.message_id
            )
        except Exception:
            raise  # a bug of ours: pykka fails the actor, on_failure replaces it
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt... raised by a body. Left alone, pykka would stop
            # every registered actor; make it this actor's failure only.
            raise SessionCrashedError(
                f"session {data.id!r}: {type(exc).__name__} raised while handling a "
                f"{request.kind.value} event"
            ) from exc
        self._current = None
        self._supervisor.turn_done(request, outcome)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Undo the crashed turn, fail its future, and have the supervisor replace us."""
        current, self._current = self._current, None
        request = None
        if current is not None:
            request, checkpoint = current
            self._cell.data.restore(checkpoint)
            self._cell.session._end_turn()
        self._supervisor.actor_died(self, request, exception_value)

    def _actor_loop_teardown(self) -> None:
        inbox = self._cell.inbox
        while not inbox.empty():
            envelope = inbox.get()
            message = envelope.message
            if isinstance(message, TurnRequest):
                self._supervisor.turn_failed(
                    message, RuntimeStoppedError("the session's actor stopped before this event")
                )
            elif envelope.reply_to is not None:
                if isinstance(message, messages._ActorStop):
                    envelope.reply_to.set(None)
                else:
                    envelope.reply_to.set_exception(
                        exc_info=(
                            pykka.ActorDeadError,
                            pykka.ActorDeadError(f"{self.actor_ref} stopped"),
                            None,
                        )
                    )
