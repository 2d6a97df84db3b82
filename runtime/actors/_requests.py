"""What a session actor is asked to do, and the one place a turn's future is settled.

Every accepted event becomes a :class:`TurnRequest` whose future is settled exactly once, by
:class:`Settlement`: with the replies (``succeed``) or an error (``fail``). Whoever settles it
counts it, so ``stats()`` always adds up: accepted = processed + failed + pending.
"""

from __future__ import annotations

import concurrent.futures
from _thread import allocate_lock
from concurrent.futures._base import PENDING
from typing import TYPE_CHECKING, Any

from runtime._future import ReplyFuture
from runtime.event import Event
from runtime.replies import Reply

if TYPE_CHECKING:
    from runtime.engine import TurnOutcome
    from runtime.stats import Counters

__all__ = [
    "SNAPSHOT",
    "ForgetRequest",
    "PassivateRequest",
    "Settlement",
    "TurnRequest",
    "fail_future",
]


class TurnRequest(ReplyFuture[list[str]]):
    """One accepted event on its way to a session actor; it is also the future of its replies.

    The caller holds it as its ``concurrent.futures.Future`` (a :class:`ReplyFuture`); one
    object per event instead of a request and a future (every in-flight event's objects are
    scanned by the garbage collector while they wait). It keeps the event's four fields
    instead of the :class:`Event` itself (one object fewer in flight, unless the runtime has
    reply subscribers) and stands for the event wherever its fields are read
    (:class:`~runtime.event.EventFields`); :attr:`event` gives an ``Event`` for the rare paths
    that need one.

    The attributes set for every event are slots: an instance dictionary would be one more
    object per event whenever CPython materialises it (seen for most requests under W1's four
    sender threads). The other attributes keep their class defaults until set, on the rare
    paths (a kept event, a failure, a retry, a callback), in an instance dictionary.
    """

    __slots__ = (
        "_condition",
        "_result",
        "_sleepers",
        "_state",
        "kind",
        "message_id",
        "payload",
        "session_id",
    )

    # Class defaults until set: a request is built with eight stores (nine with keep_event).
    attempts = 0  # times its turn crashed the session's actor (then it is retried)
    # Set (under the cell's lock) when stop() or turn_timeout failed the future while the
    # turn ran: the turn must then roll back instead of committing.
    abandoned = False
    # The submitted Event itself, kept only while the runtime has reply subscribers (they are
    # given that very object: see runtime.subscriptions).
    _event: Event | None = None

    def __init__(self, event: Event, *, keep_event: bool = False) -> None:
        # ReplyFuture.__init__'s stores, inline (one call fewer per event): keep in step. The
        # slots shadow ReplyFuture's class defaults, so every one is set here.
        self._condition = allocate_lock()  # type: ignore[assignment]
        self._state = PENDING
        self._result = None
        self._sleepers = None
        self.session_id, self.kind, self.payload, self.message_id = event
        if keep_event:
            self._event = event

    @property
    def event(self) -> Event:
        """The event this request carries: the submitted object if kept, else an equal one."""
        event = self._event
        if event is None:
            event = Event(self.session_id, self.kind, self.payload, self.message_id)
        return event


SNAPSHOT = object()
"""Ask a session actor for its committed ``SessionSnapshot`` (handled in turn order)."""


class _Request:
    """A request settled with a bool for every asker (one queued per cell at a time)."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        self.futures: list[concurrent.futures.Future[bool]] = []

    def resolve(self, done: bool) -> None:
        """Tell every asker the outcome."""
        for future in self.futures:
            if not future.done():
                future.set_result(done)

    def fail(self, exc: BaseException) -> None:
        """Fail every asker's future with ``exc``."""
        for future in self.futures:
            fail_future(future, exc)


class PassivateRequest(_Request):
    """Ask a session actor to move its session to the store if nothing arrived since."""

    __slots__ = ("touched",)

    def __init__(self, touched: int) -> None:
        super().__init__()
        self.touched = touched  # the cell's touch tick when the request was made


class ForgetRequest(_Request):
    """Ask a session actor to erase its session, live and stored, after what came before."""

    __slots__ = ()


def fail_future(future: concurrent.futures.Future[Any], exc: BaseException) -> bool:
    """Fail ``future`` unless it is already done; return whether this call failed it."""
    try:
        future.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        return False
    return True


class Settlement:
    """Settle turn futures and count them (used by actors, the backend and the monitor).

    Args:
        counters: the runtime's counters.
    """

    __slots__ = ("counters",)

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def succeed(self, request: TurnRequest, outcome: TurnOutcome) -> bool:
        """Count a committed turn, then resolve its future; False if it was settled before.

        Counting comes first, so a caller woken by its future sees its event in stats(), and
        a callback of the future that calls stop() does not wait for its own event.

        The future resolves to the text replies; when the turn sent a rich reply (a
        ``Reply`` of another kind), the full list is kept on the future first, as ``_typed``,
        for ``ReplyFuture.typed_result``. Most turns send none: their list is not copied.
        """
        counted = self.counters.processed_one(outcome)
        replies = texts = outcome.replies
        for reply in replies:  # ~40 ns a reply (measured: twice as fast as map(type, ...))
            if type(reply) is Reply:
                # Set before the result, so whoever it wakes finds it.
                request._typed = replies  # type: ignore[attr-defined]  # see runtime._future
                texts = [r for r in replies if type(r) is not Reply or r.kind == "text"]
                break
        if request._resolve(texts):
            return True
        self.counters.cell().add_outcome(outcome, sign=-1)  # settled before: take it back
        if counted:
            self.counters.unresolve()
        return False

    def fail(self, request: TurnRequest, exc: BaseException) -> bool:
        """Count a failed turn, then fail its future; False if it was settled before.

        A future its caller cancelled before the turn ran is counted as cancelled, once.
        """
        cell = self.counters.cell()
        cell.failures += 1
        counted = self.counters.resolved()
        if fail_future(request, exc):
            return True
        cell.failures -= 1
        if counted:
            self.counters.unresolve()
        try:
            if not request.set_running_or_notify_cancel():
                self.cancelled()  # cancelled, and this is the first to notice
                return True
        except RuntimeError:
            pass  # settled by someone else, who counted it
        return False

    def cancelled(self) -> None:
        """Count a turn whose caller cancelled its future before it ran."""
        self.counters.cell().failures += 1
        self.counters.resolved()
