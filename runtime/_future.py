"""A leaner ``concurrent.futures.Future`` for the one future every event gets.

``concurrent.futures.Future`` builds a ``threading.Condition`` per future: an RLock, a deque and
five bound methods, a dozen objects the garbage collector tracks. At tens of thousands of events
per second they made the collector the largest single cost of an event (measured: ~8 us of
~30 us per event, single-threaded). ``ReplyFuture`` is a real ``concurrent.futures.Future``
(``wait``, ``as_completed``, ``asyncio.wrap_future`` and callbacks work unchanged); only its
``_condition`` is a small condition variable that subclasses the C ``RLock``, with its waiter
list made on first wait. The lock must be reentrant: building the message of
``InvalidStateError`` calls ``repr(future)``, which takes the lock again.

Done-callbacks are the caller's code, run on whatever thread settles the future (a session's
worker). ``concurrent.futures`` lets a callback's ``BaseException`` (``SystemExit``) escape
into that thread and skips the callbacks after it; ``ReplyFuture`` logs it and runs the rest,
so a caller's callback can never reach the actor machinery.

A turn's future resolves to its text replies; :meth:`ReplyFuture.typed_result` gives all of
them, rich ones included (``runtime.replies``). Settling keeps the full list in the future's
``_typed`` attribute, set only when the turn sent a rich reply (see ``Settlement.succeed``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from _thread import RLock, allocate_lock
from collections.abc import Callable
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, PENDING, RUNNING
from typing import Any, TypeVar, cast

from runtime.errors import describe_exception
from runtime.log import get_logger
from runtime.replies import Reply, typed

__all__ = ["ReplyFuture"]

T = TypeVar("T")


class _LeanCondition(RLock):  # type: ignore[misc]
    """The part of ``threading.Condition`` that ``concurrent.futures`` uses.

    It *is* its lock (an ``RLock`` subclass), so ``with condition:`` runs the lock's C
    ``__enter__`` and ``__exit__``: no Python call on every future operation.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[Any] | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, wait for a notify (or ``timeout``), take the lock back."""
        # Like threading.Condition.wait at recursion depth 1, the only depth the futures
        # module waits at.
        waiter = allocate_lock()
        waiter.acquire()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        self.release()
        got = False
        try:
            got = waiter.acquire() if timeout is None else waiter.acquire(True, max(timeout, 0))
            return got
        finally:
            self.acquire()
            waiters = self._waiters  # None if notify_all() took the list meanwhile
            if not got and waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)

    def notify_all(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for waiter in waiters:
                waiter.release()


class ReplyFuture(concurrent.futures.Future[T]):
    """A ``concurrent.futures.Future`` with a leaner condition variable (see module doc)."""

    def __init__(self) -> None:  # does not call super().__init__: it would build a Condition
        self._condition = _LeanCondition()  # type: ignore[assignment]
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Callable[[concurrent.futures.Future[T]], object]] = []

    def typed_result(self, timeout: float | None = None) -> list[Reply]:
        """Wait like :meth:`result`; return every reply of the turn, typed, in order.

        Text replies come back as ``Reply`` objects of kind ``"text"``, rich replies as they
        were sent. Only for a turn's future (its result is a list of replies).

        Args:
            timeout: seconds to wait; None waits until the turn is settled.

        Raises:
            TimeoutError: the turn was not settled within ``timeout``.
            Exception: whatever :meth:`result` raises (the turn's failure).
        """
        replies = cast("list[str]", self.result(timeout))
        return typed(getattr(self, "_typed", replies))

    def _invoke_callbacks(self) -> None:
        for callback in self._done_callbacks:
            try:
                callback(self)
            except BaseException as exc:
                get_logger().error(
                    "future_callback_failed",
                    callback=getattr(callback, "__qualname__", type(callback).__name__),
                    error=describe_exception(exc),
                    detail="the callback's exception was logged and dropped",
                )

    def set_running_or_notify_cancel(self) -> bool:
        """Mark the future running (True), or note its cancellation once (False).

        As ``concurrent.futures.Future``'s, except that a future already finished raises
        ``RuntimeError`` without logging at CRITICAL: here that is an expected race (stop()
        failed the event just before its turn began), not a bug.
        """
        with self._condition:
            if self._state == CANCELLED:
                self._state = CANCELLED_AND_NOTIFIED
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
                return False
            if self._state == PENDING:
                self._state = RUNNING
                return True
            raise RuntimeError(f"future in state {self._state}, not pending")
