"""Locks that let the line scheduler run another user instead of blocking the whole run.

Under the scheduler one thread runs at a time. A bot's lock held across a switch (``with
GUARD: ...`` spanning lines) would make the next user block on it while holding the baton; the
scheduler could only notice after a timeout, and such a run may not replay. In the fresh
processes of a check, before the bot is loaded, ``threading.Lock`` and ``threading.RLock``
become these cooperative locks: when one is held by another user, the caller hands the baton
over (to a user not waiting for a lock) and tries again when it gets it back. Outside a
scheduled run they behave as plain locks.
"""

from __future__ import annotations

import _thread
import threading
import time
from typing import Any

from runtime.testing._scheduler import active

__all__ = ["CooperativeLock", "CooperativeRLock", "install"]


class CooperativeLock:
    """A ``threading.Lock`` that yields to the line scheduler while another user holds it."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while True:
            scheduler = active()
            if scheduler is None or not scheduler.wait_for_lock("a lock held by another user"):
                left = -1 if deadline is None else max(0.0, deadline - time.monotonic())
                return self._lock.acquire(True, left)
            if self._lock.acquire(False):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _at_fork_reinit(self) -> None:
        self._lock = _thread.allocate_lock()


class CooperativeRLock:
    """A ``threading.RLock`` that yields to the line scheduler while another user holds it."""

    __slots__ = ("_count", "_lock", "_owner")

    def __init__(self) -> None:
        self._lock = CooperativeLock()
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner, self._count = me, 1
        return True

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count == 0:
            self._owner = None
            self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner == threading.get_ident()


def install() -> None:
    """Make ``threading.Lock()`` and ``threading.RLock()`` cooperative in this process (a
    fresh process of a check, before the bot loads)."""
    module: Any = threading
    module.Lock = CooperativeLock
    module.RLock = CooperativeRLock
