"""Striped locks: many sessions share a fixed set of locks instead of owning one each.

A lock is an object the garbage collector tracks; a live session had two (its cell's and its
inbox's), each scanned by every full collection for as long as the session lives. Both are
held only for a few reads and writes, never around another lock of the same kind, so sessions
can share them: a session's lock is one of ``STRIPES`` locks, picked when it is made. Two
sessions on one stripe only ever wait for each other's few reads and writes.

Code holding a striped lock must not run anything that may take another lock of the same
stripe set (user callbacks, another session's operations): that could be the same lock.
"""

from __future__ import annotations

import itertools
from _thread import LockType, allocate_lock

__all__ = ["STRIPES", "Stripes"]

#: Locks per set: far more than threads, so two threads rarely meet on one.
STRIPES = 1024


class Stripes:
    """A set of ``STRIPES`` locks handed out in turn."""

    __slots__ = ("_locks", "_next")

    def __init__(self) -> None:
        self._locks = tuple(allocate_lock() for _ in range(STRIPES))
        self._next = itertools.count()

    def lock(self) -> LockType:
        """Return the next lock of the set (round robin: neighbours never share one)."""
        return self._locks[next(self._next) % STRIPES]
