"""The routing table: which sessions are live, and where their inboxes are.

Routing is a dictionary lookup done by the sending thread, not a message to a shared actor, so
no single mailbox sits on every event's path. A session that is not live gets a cell under its
stripe of the table's locks (looked up again under it, so concurrent first events for one
session make exactly one cell and one actor); the table does no store I/O: the new cell's actor
loads the session on a worker while events already queue in its inbox. One session's slow load
never holds up another session's activation.

The locks are striped (``_STRIPES`` locks, a session's picked by its id's hash) because one
lock for every new session made a convoy under the GIL: with 4 sender threads opening
sessions, a sender preempted while holding it sent the others to sleep on it, about one
context switch per new session (W5's activation of 100k sessions: 1.1-1.8 voluntary context
switches and 23-34 us of system time per session with one lock, 0.12 and 6 us with stripes;
benchmarks/README.md, W5). ``close`` takes every stripe, so no cell is made behind its back.
Reading the table (:meth:`cells`, :meth:`ids`) takes none: under the GIL, copying a dict is
one C call that runs no Python code, so no other thread changes it meanwhile.

Removal (passivation, forget, a failed load) closes the cell's inbox as *moved* under the
session's stripe: a sender that still held the old cell finds it moved and routes again, so an
event racing a removal is neither lost nor reordered.
"""

from __future__ import annotations

from _thread import LockType, allocate_lock
from collections.abc import Callable

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.errors import RuntimeStoppedError

__all__ = ["Directory"]

# Locks of the table: far more than sender threads, so two rarely meet on one. (Not the
# cells' and inboxes' stripes of runtime.actors._stripes: those are handed out in turn, these
# are found again from the session id.)
_STRIPES = 64


class Directory:
    """Live sessions by id.

    Args:
        start_actor: starts the actor of a new cell (no I/O: it only schedules the actor).
            Called under the session's stripe: it must never call back into the table (with
            64 stripes that would deadlock only when two ids share one, 1 time in 64).
        on_grow: called (outside any stripe) when a new cell makes the table grow.
    """

    def __init__(
        self,
        start_actor: Callable[[SessionCell], object],
        on_grow: Callable[[int], object] | None = None,
    ) -> None:
        self._cells: dict[str, SessionCell] = {}
        self._locks = tuple(allocate_lock() for _ in range(_STRIPES))
        self._start_actor = start_actor
        self._on_grow = on_grow
        self._closed = False
        # A coarse clock advanced by the sweeper; senders stamp cells with it (an int read is
        # far cheaper than a clock read on every event).
        self.tick = 0

    def __len__(self) -> int:
        return len(self._cells)

    def get(self, session_id: str) -> SessionCell | None:
        """Return the session's live cell, or None."""
        return self._cells.get(session_id)

    def lock_of(self, session_id: str) -> LockType:
        """Return the lock that guards ``session_id``'s entry (its stripe)."""
        return self._locks[hash(session_id) % _STRIPES]

    def cells(self) -> list[SessionCell]:
        """Return the live cells now (a copy, made in one C call: see the module doc)."""
        return list(self._cells.values())

    def ids(self) -> list[str]:
        """Return the live session ids now (a copy, made in one C call)."""
        return list(self._cells)

    def route(self, session_id: str) -> SessionCell:
        """Return the session's live cell, making one (and its actor) if there is none.

        Raises:
            RuntimeStoppedError: the table was closed.
        """
        cell = self._cells.get(session_id)
        if cell is not None:
            return cell
        with self._locks[hash(session_id) % _STRIPES]:  # lock_of(), inline
            if self._closed:
                raise RuntimeStoppedError("the runtime stopped before the event was queued")
            cell = self._cells.get(session_id)
            if cell is None:
                cell = SessionCell(session_id, self.tick)
                self._start_actor(cell)
                self._cells[session_id] = cell
            size = len(self._cells)
        if self._on_grow is not None:
            self._on_grow(size)
        return cell

    def remove(self, cell: SessionCell, *, if_touched: int | None = None) -> bool:
        """Take ``cell`` out of the table if its inbox is empty; return whether it was.

        Args:
            cell: the cell (its own actor calls this, between turns).
            if_touched: remove only if no event was sent to it since this tick.
        """
        with self.lock_of(cell.id):
            if self._cells.get(cell.id) is not cell:
                return False
            if if_touched is not None and cell.touched != if_touched:
                return False
            if not cell.close_if_empty():
                return False  # an event is queued: stay live
            del self._cells[cell.id]
            cell.lifecycle = Lifecycle.MOVED
            return True

    def discard(self, cell: SessionCell, error: BaseException) -> list[object]:
        """Take ``cell`` out whatever it holds; return the tells its inbox still queued.

        Asks still queued are failed with ``error``; a sender racing this routes again.
        """
        with self.lock_of(cell.id):
            if self._cells.get(cell.id) is cell:
                del self._cells[cell.id]
            cell.lifecycle = Lifecycle.MOVED
            return cell.close(error, moved=True)

    def close(self) -> list[SessionCell]:
        """Refuse new cells from now on; return every live cell."""
        taken = 0
        try:
            for lock in self._locks:  # all of them, in order: no cell is being made meanwhile
                lock.acquire()
                taken += 1
            self._closed = True
            return list(self._cells.values())
        finally:  # only those taken (a KeyboardInterrupt may end the wait for one)
            for lock in self._locks[:taken]:
                lock.release()
