"""A leaner ``concurrent.futures.Future`` for the one future every event gets.

``concurrent.futures.Future`` builds a ``threading.Condition`` per future: an RLock, a deque and
five bound methods, plus two lists, a dozen objects the garbage collector tracks. At tens of
thousands of events per second they made the collector the largest single cost of an event
(measured: ~8 us of ~30 us per event, single-threaded). ``ReplyFuture`` is a real
``concurrent.futures.Future`` (``wait``, ``as_completed``, ``asyncio.wrap_future`` and callbacks
work unchanged) built with two stores: a plain lock and its state. The lists are made on first
use; a thread waiting in ``result()`` waits on a lock of its own; ``result()`` of a resolved
future returns without taking the lock.

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
from _thread import allocate_lock
from collections.abc import Callable
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)
from typing import Any, TypeVar, cast

from runtime.errors import describe_exception
from runtime.log import get_logger
from runtime.replies import Reply, typed

__all__ = ["ReplyFuture"]

T = TypeVar("T")

_DONE = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)


class ReplyFuture(concurrent.futures.Future[T]):
    """A ``concurrent.futures.Future`` made of two attributes until someone waits (module doc).

    Its ``_condition`` is a plain lock (what ``concurrent.futures.wait`` and ``as_completed``
    acquire); the threads blocked in :meth:`result` or :meth:`exception` wait on locks of
    their own, listed in ``_sleepers``. ``_waiters`` (the standard module's ``wait`` and
    ``as_completed`` helpers) and ``_done_callbacks`` are made on first use. The lock is not
    reentrant: nothing here calls ``repr(self)`` while holding it.
    """

    # Defaults read through the class until set: an event's future is built with two stores.
    _result: Any = None
    _exception: BaseException | None = None
    _done_callbacks: Any = ()
    _waiter_list: list[Any] | None = None
    _sleepers: list[Any] | None = None

    def __init__(self) -> None:  # does not call super().__init__: it would build a Condition
        self._condition = allocate_lock()  # type: ignore[assignment]
        self._state = PENDING

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]
        """The standard module's waiter list (``wait``, ``as_completed``), made on first use."""
        waiters = self._waiter_list
        if waiters is None:
            waiters = self._waiter_list = []
        return waiters

    def _wake_locked(self) -> None:
        """Wake the threads in :meth:`result` or :meth:`exception` (lock held)."""
        sleepers = self._sleepers
        if sleepers:
            self._sleepers = None
            for sleeper in sleepers:
                sleeper.release()

    def _sleep(self, timeout: float | None) -> None:
        """Wait until the future is done or ``timeout`` passes (the lock is not held)."""
        sleeper = allocate_lock()
        sleeper.acquire()
        with self._condition:
            if self._state in _DONE:
                return
            if self._sleepers is None:
                self._sleepers = []
            self._sleepers.append(sleeper)
        got = False
        try:
            got = sleeper.acquire() if timeout is None else sleeper.acquire(True, max(timeout, 0))
        finally:  # timed out, or interrupted (KeyboardInterrupt): leave no sleeper behind
            if not got:
                with self._condition:
                    sleepers = self._sleepers  # None if a wake took the list meanwhile
                    if sleepers is not None:
                        with contextlib.suppress(ValueError):
                            sleepers.remove(sleeper)

    def result(self, timeout: float | None = None) -> T:
        """Return the result, waiting up to ``timeout`` seconds (as the standard future)."""
        if self._state is FINISHED:  # the common case, read without the lock (set last)
            exception = self._exception
            if exception is None:
                return self._result  # type: ignore[no-any-return]  # no cast(): a call
        elif self._state not in _DONE:
            self._sleep(timeout)
        return self._outcome(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception, waiting up to ``timeout`` seconds (as the standard future)."""
        if self._state not in _DONE:
            self._sleep(timeout)
        state = self._state
        if state in (CANCELLED, CANCELLED_AND_NOTIFIED):
            raise concurrent.futures.CancelledError()
        if state is FINISHED:
            return self._exception
        raise TimeoutError()

    def _outcome(self, timeout: float | None) -> T:
        state = self._state
        if state in (CANCELLED, CANCELLED_AND_NOTIFIED):
            raise concurrent.futures.CancelledError()
        if state is not FINISHED:
            raise TimeoutError()
        exception = self._exception
        if exception is not None:
            try:
                raise exception
            finally:
                del exception  # no reference cycle through the frame (as the standard one)
        return cast("T", self._result)

    def set_result(self, result: T) -> None:
        """Resolve the future with ``result``, wake its waiters, run its callbacks."""
        if not self._resolve(result):
            raise concurrent.futures.InvalidStateError(f"{self._state}: {self!r}")

    def _resolve(self, result: T) -> bool:
        """:meth:`set_result`, returning False instead of raising if the future was done.

        The settling path of every event: ``_wake_locked`` inline.
        """
        with self._condition:
            if self._state in _DONE:
                return False
            self._result = result
            self._state = FINISHED
            if self._waiter_list:
                for waiter in self._waiter_list:
                    waiter.add_result(self)
            sleepers = self._sleepers
            if sleepers:
                self._sleepers = None
                for sleeper in sleepers:
                    sleeper.release()
        if self._done_callbacks:
            self._invoke_callbacks()
        return True

    def set_exception(self, exception: BaseException | None) -> None:
        """Fail the future with ``exception``, wake its waiters, run its callbacks."""
        with self._condition:
            done = self._state in _DONE
            if not done:
                self._exception = exception
                self._state = FINISHED
                if self._waiter_list:
                    for waiter in self._waiter_list:
                        waiter.add_exception(self)
                self._wake_locked()
        if done:
            raise concurrent.futures.InvalidStateError(f"{self._state}: {self!r}")
        if self._done_callbacks:
            self._invoke_callbacks()

    def cancel(self) -> bool:
        """Cancel the future if it has not started; return whether it is cancelled."""
        with self._condition:
            if self._state in (RUNNING, FINISHED):
                return False
            if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
                return True
            self._state = CANCELLED
            self._wake_locked()
        if self._done_callbacks:
            self._invoke_callbacks()
        return True

    def add_done_callback(self, fn: Callable[[concurrent.futures.Future[T]], object]) -> None:
        """Call ``fn(future)`` once the future is done (at once if it is)."""
        with self._condition:
            if self._state not in _DONE:
                if not self._done_callbacks:
                    self._done_callbacks = []
                self._done_callbacks.append(fn)
                return
        self._run_callback(fn)

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
            self._run_callback(callback)

    def _run_callback(self, callback: Callable[[concurrent.futures.Future[T]], object]) -> None:
        """Call ``callback(self)``; log and drop whatever it raises (BaseException too)."""
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
                for waiter in self._waiter_list or ():
                    waiter.add_cancelled(self)
                return False
            if self._state == PENDING:
                self._state = RUNNING
                return True
            raise RuntimeError(f"future in state {self._state}, not pending")
