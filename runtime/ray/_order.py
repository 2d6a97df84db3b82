"""Per-session sequence numbers: stamped by the gateway, put back in order by the shard.

Ray's async actors do not run calls in the order they were sent (measured: message 1 before
message 0 up to 954 times in a batched run), and a batch that failed is sent again after the
ones behind it. So the gateway numbers each session's items (:class:`Clocks`) and a shard
starts a session's items in that order (:class:`Reorder`), holding back the ones that arrive
early.

Each item also carries a *floor*: every item of the session numbered below it is settled at the
gateway (answered, or failed for good), so none of them will be sent again. A shard that has
never seen the session (it just started, or restarted after a crash) learns from it where the
session's sequence stands; one that has seen it skips past items the gateway gave up on.

An item numbered below what the shard expects is a resend of one it started already (its
batch's answer was lost): it is started again at once and its ``message_id``, recorded with the
committed turn, makes the session answer it from memory instead of running it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Clocks", "Reorder"]

T = TypeVar("T")


class _Clock:
    __slots__ = ("next", "unsettled")

    def __init__(self) -> None:
        self.next = 0
        # Insertion order is numbering order: the first key is the lowest unsettled number.
        self.unsettled: dict[int, None] = {}


class Clocks:
    """The gateway's side: number each session's items; track which are settled.

    Not thread-safe: the caller holds its own lock around every call.
    """

    def __init__(self) -> None:
        self._clocks: dict[str, _Clock] = {}

    def stamp(self, session_id: str) -> tuple[int, int]:
        """Return the next item's ``(seq, floor)`` for ``session_id``; it is now unsettled."""
        clock = self._clocks.get(session_id)
        if clock is None:
            clock = self._clocks[session_id] = _Clock()
        seq = clock.next
        clock.next = seq + 1
        unsettled = clock.unsettled
        floor = next(iter(unsettled)) if unsettled else seq
        unsettled[seq] = None
        return seq, floor

    def settle(self, session_id: str, seq: int) -> None:
        """Note that item ``seq`` of ``session_id`` is answered or failed for good."""
        clock = self._clocks.get(session_id)
        if clock is not None:
            clock.unsettled.pop(seq, None)

    def floor(self, session_id: str) -> int:
        """Return the lowest number of the session not settled yet (all below it are)."""
        clock = self._clocks.get(session_id)
        if clock is None:
            return 0
        return next(iter(clock.unsettled)) if clock.unsettled else clock.next

    def next_seq(self, session_id: str) -> int:
        """Return the number the session's next item will get."""
        clock = self._clocks.get(session_id)
        return 0 if clock is None else clock.next


@dataclass
class _Waiting(Generic[T]):
    since: float  # when the oldest held item of the session arrived
    items: dict[int, list[T]] = field(default_factory=dict)


class Reorder(Generic[T]):
    """The shard's side: release each session's items in sequence order.

    Not thread-safe: a shard calls it from its event loop only.
    """

    def __init__(self) -> None:
        self._expected: dict[str, int] = {}
        self._waiting: dict[str, _Waiting[T]] = {}

    def in_line(self, session_id: str, seq: int, floor: int) -> bool:
        """Take an item if it is next in its session's line: then start it now (True).

        The common case, without the list :meth:`offer` returns; False (nothing taken): pass
        the item to :meth:`offer`.
        """
        if session_id in self._waiting:
            return False
        expected = self._expected.get(session_id, 0)
        if seq != (floor if floor > expected else expected):
            return False
        self._expected[session_id] = seq + 1
        return True

    def offer(self, session_id: str, seq: int, floor: int, item: T, now: float) -> list[T]:
        """Take ``item`` (number ``seq``); return the items to start now, in order."""
        expected = self._expected.get(session_id, 0)
        waiting = self._waiting.get(session_id)
        if waiting is None and seq == max(expected, floor):  # the common case: next in line
            self._expected[session_id] = seq + 1
            return [item]
        ready: list[T] = []
        if floor > expected:
            # Everything below the floor is settled at the gateway: stop waiting for it.
            if waiting is not None:
                for number in sorted(n for n in waiting.items if n < floor):
                    ready.extend(waiting.items.pop(number))
            expected = floor
        if seq < expected:
            ready.append(item)  # a resend: its message_id answers it if it committed
        else:
            if waiting is None:
                waiting = self._waiting[session_id] = _Waiting(now)
            waiting.items.setdefault(seq, []).append(item)
            while expected in waiting.items:
                ready.extend(waiting.items.pop(expected))
                expected += 1
        if waiting is not None:
            if not waiting.items:
                del self._waiting[session_id]
            elif ready:
                waiting.since = now  # the session moved: its clock of waiting starts again
        self._expected[session_id] = expected
        return ready

    def expire(self, now: float, gap: float) -> list[T]:
        """Give up on the gaps older than ``gap`` seconds: return the items held behind them.

        Their sessions then expect the item after the last one returned, so later items go on.
        """
        expired: list[T] = []
        for session_id, waiting in list(self._waiting.items()):
            if now - waiting.since < gap:
                continue
            numbers = sorted(waiting.items)
            for number in numbers:
                expired.extend(waiting.items[number])
            self._expected[session_id] = numbers[-1] + 1
            del self._waiting[session_id]
        return expired

    def drain(self) -> list[T]:
        """Return every held item (the shard is stopping) and hold nothing more."""
        held = [
            item for w in self._waiting.values() for items in w.items.values() for item in items
        ]
        self._waiting.clear()
        return held

    @property
    def held(self) -> int:
        """How many items wait for an earlier one."""
        return sum(len(items) for w in self._waiting.values() for items in w.items.values())
