"""The gateway's link to one shard: number, batch, send, settle, and resend what was lost.

One Ray call per event is far too slow (measured: about 1k calls/s one at a time, 3-4k/s
pipelined); batches of 1,000 reach 71-86k messages/s. So :meth:`ShardLink.put` only stamps the
item with its session's next number and queues it, and a sender thread per shard sends the
queue as one call once it holds ``batch_size`` items or its oldest item has waited ``window``
seconds, whichever comes first, with at most ``max_in_flight`` calls outstanding (the rest
wait, so the queue itself is the back-pressure).

A call's answer settles the futures of its items (Ray's own thread runs the callback). When a
call fails because the shard is unreachable (``RayActorError``: the actor died and restarts,
or its node is gone), the outcome of its items is unknown: they are sent again, with the same
numbers and ``message_id`` (so a turn that did commit is answered from the session's memory,
never run twice), after a back-off, until ``resend_timeout`` has passed since their first
send; then they fail with ``ShardUnavailableError(maybe_committed=True)``.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from runtime.errors import RuntimeStoppedError, ShardFencedError, ShardUnavailableError
from runtime.event import Event
from runtime.log import get_logger
from runtime.ray._order import Clocks
from runtime.ray._wire import EVENT, Item, Result, decode_error

__all__ = ["Entry", "ShardLink"]

_MIN_BACKOFF = 0.01
_MAX_BACKOFF = 1.0

# Item numbers are unique across every link of the process: a result names its item.
_refs = itertools.count(1)


class Entry:
    """An item the gateway sent and has not settled: what to send again, whom to tell."""

    __slots__ = ("event", "first_sent", "future", "item")

    def __init__(self, item: Item, future: concurrent.futures.Future[Any], event: Event | None):
        self.item = item
        self.future = future
        self.event = event  # the caller's own event object (subscribers compare by identity)
        self.first_sent = 0.0


Deliver = Callable[[Entry, bool, Any], None]


class _Feed:
    """A subscribed session's settled items, delivered in sequence order."""

    __slots__ = ("cursor", "held")

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.held: dict[int, tuple[Event, list[Any]] | None] = {}


class ShardLink:
    """Batch one shard's items and settle their futures (see the module docstring).

    Args:
        index: the shard's number.
        actor: the shard's Ray actor handle.
        deliver: ``deliver(entry, ok, value)`` settles an item's future (value decoded).
        publish: ``publish(event, replies)`` gives a committed turn to the subscribers.
        on_settled: called after each batch of results (the backend wakes a draining close).
        revive: ``revive(index)`` returns a new actor handle when the shard died for good.
    """

    def __init__(
        self,
        index: int,
        actor: Any,
        *,
        deliver: Deliver,
        publish: Callable[[Event, list[Any]], None],
        on_settled: Callable[[], None],
        revive: Callable[[int], Any],
        batch_size: int,
        window: float,
        max_in_flight: int,
        resend_timeout: float,
        incarnation: tuple[int, int] | None = None,
    ) -> None:
        import ray  # noqa: PLC0415  # the optional extra: only a started RayBackend gets here

        self._actor_errors: tuple[type[BaseException], ...] = (ray.exceptions.RayActorError,)
        self._died: type[BaseException] = ray.exceptions.ActorDiedError
        self.index = index
        self.actor = actor
        self._deliver = deliver
        self._publish = publish
        self._on_settled = on_settled
        self._revive = revive
        self._batch_size = batch_size
        self._window = window
        self._max_in_flight = max_in_flight
        self._resend_timeout = resend_timeout
        self._cond = threading.Condition(threading.Lock())
        self._publishing = threading.Lock()
        self._queue: deque[Entry] = deque()
        self._queued_at = 0.0  # when the queue last went from empty to non-empty
        self._idle = False  # the sender waits for items
        self._retries: list[tuple[float, list[Entry]]] = []
        self._entries: dict[int, Entry] = {}
        self._clocks = Clocks()
        self._feeds: dict[str, _Feed] = {}
        self._in_flight = 0
        self._backoff = _MIN_BACKOFF
        self._closed = False
        self.incarnation: tuple[int, int] | None = incarnation  # (generation, pid)
        self.restarts = 0  # new incarnations seen
        self.resends = 0  # items sent again after a lost call
        self.accepted = 0
        self.processed = 0
        self.failed = 0
        self._log = get_logger(shard=index)
        self._thread = threading.Thread(
            target=self._run, name=f"runtime-ray-shard-{index}", daemon=True
        )
        self._thread.start()

    @property
    def unsettled(self) -> Mapping[int, Entry]:
        """The items sent or queued and not settled, by ref (live: read its ``len``)."""
        return self._entries

    # -- the way in -------------------------------------------------------------------------

    def put(
        self,
        op: int,
        session_id: str,
        payload: Any,
        future: concurrent.futures.Future[Any],
        event: Event | None = None,
    ) -> None:
        """Number the item in its session and queue it for the next batch.

        Raises:
            RuntimeStoppedError: the link is closed.
        """
        with self._cond:
            if self._closed:
                raise RuntimeStoppedError("the runtime is not running")
            seq, floor = self._clocks.stamp(session_id)
            ref = next(_refs)
            entry = Entry((ref, op, session_id, seq, floor, payload), future, event)
            self._entries[ref] = entry
            queue = self._queue
            queue.append(entry)
            if op == EVENT:
                self.accepted += 1
                if len(queue) == 1:
                    self._queued_at = time.monotonic()
                    if self._idle:
                        self._cond.notify()
                elif len(queue) == self._batch_size:
                    self._cond.notify()
            else:
                # A snapshot, passivation or forget has a caller waiting: the queue goes now.
                self._queued_at = time.monotonic() - self._window
                self._cond.notify()

    def watch(self, session_id: str) -> None:
        """Deliver the session's committed turns from the next item on, in order."""
        with self._cond:
            if session_id not in self._feeds:
                self._feeds[session_id] = _Feed(self._clocks.next_seq(session_id))

    # -- the sender -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._send(*batch)

    def _next_batch(self) -> tuple[list[Entry], list[Item]] | None:
        cond = self._cond
        with cond:
            while True:
                now = time.monotonic()
                wait = self._due_retries(now)
                queue = self._queue
                if self._closed and not queue:
                    return None
                if queue and self._in_flight < self._max_in_flight:
                    left = self._queued_at + self._window - now
                    if len(queue) >= self._batch_size or left <= 0 or self._closed:
                        take = min(len(queue), self._batch_size)
                        batch = [queue.popleft() for _ in range(take)]
                        items = self._items(batch, now)
                        if queue:
                            self._queued_at = now
                        self._in_flight += 1
                        return batch, items
                    wait = left if wait is None else min(wait, left)
                self._idle = not queue
                cond.wait(wait)
                self._idle = False

    def _items(self, batch: list[Entry], now: float) -> list[Item]:
        """Return the batch's items, each with its session's floor as of now (lock held).

        A floor read at stamping time would be too low by the items settled meanwhile, and a
        shard that restarted in between would wait for them (until ``gap_timeout``). An item
        whose floor is its own number (nothing of its session was unsettled when it was
        stamped: the common case) cannot have a higher one, so it goes as it is.
        """
        floor = self._clocks.floor
        items = []
        behind: set[str] = set()  # sessions of resent items waiting for earlier ones
        for entry in batch:
            item = entry.item
            if item[4] != item[3]:
                now_floor = floor(item[2])
                if now_floor != item[4]:
                    ref, op, session_id, seq, _, payload = item
                    item = entry.item = (ref, op, session_id, seq, now_floor, payload)
                if entry.first_sent and item[4] < item[3]:
                    behind.add(item[2])
            if not entry.first_sent:
                entry.first_sent = now
            items.append(item)
        if behind:
            items = self._with_predecessors(batch, items, behind)
        return items

    def _with_predecessors(
        self, batch: list[Entry], items: list[Item], sessions: set[str]
    ) -> list[Item]:
        """Put the sessions' earlier unsettled items, sent in other calls, before ``items``.

        A resend goes to a new shard incarnation, which has seen none of its session's earlier
        items. Those still in flight to the old one may yet be answered by it (a lost node's
        actor answers for a while) and so never be sent again: the new incarnation would hold
        the resend for a gap that never fills (until ``gap_timeout``). Sending them along
        closes the gap; a copy that the old incarnation did commit is answered from the
        session's ``message_id`` memory, never run twice, and the first answer settles it.
        """
        first: dict[str, int] = {}  # each session's lowest number in this batch
        in_batch = set()
        for entry in batch:
            ref, _, session_id, seq = entry.item[:4]
            in_batch.add(ref)
            if session_id in sessions and seq < first.get(session_id, seq + 1):
                first[session_id] = seq
        floor = self._clocks.floor
        earlier = []
        for entry in self._entries.values():
            ref, op, session_id, seq, _, payload = entry.item
            # Sent in another call (an unsent one goes in order anyway).
            sent = entry.first_sent and ref not in in_batch
            if sent and session_id in first and seq < first[session_id]:
                entry.item = (ref, op, session_id, seq, floor(session_id), payload)
                earlier.append(entry.item)
        earlier.sort(key=lambda item: (item[2], item[3]))
        self.resends += len(earlier)
        return earlier + items

    def flush(self) -> None:
        """Send what is queued without waiting for the window (the runtime is stopping)."""
        with self._cond:
            self._window = 0.0
            self._cond.notify()

    def _due_retries(self, now: float) -> float | None:
        """Queue the resends that are due (first in line); return seconds to the next one."""
        if not self._retries:
            return None
        due = [entries for at, entries in self._retries if at <= now]
        if due:
            self._retries = [(at, entries) for at, entries in self._retries if at > now]
            for entries in reversed(due):
                self._queue.extendleft(reversed(entries))
            self._queued_at = now - self._window  # send at once
        return min((at - now for at, _ in self._retries), default=None)

    def _send(self, batch: list[Entry], items: list[Item]) -> None:
        actor = self.actor
        try:
            ref = actor.handle.remote(items)
            ref.future().add_done_callback(partial(self._on_reply, batch, actor))
        except BaseException as exc:  # handed to the batch's futures
            self._lost(batch, actor, exc)

    # -- answers ----------------------------------------------------------------------------

    def _on_reply(
        self, batch: list[Entry], actor: Any, done: concurrent.futures.Future[Any]
    ) -> None:
        try:
            incarnation, results, token = done.result()
        except BaseException as exc:  # sorted out in _lost
            self._lost(batch, actor, exc)
            return
        self._backoff = _MIN_BACKOFF
        if incarnation != self.incarnation:
            if self.incarnation is not None:
                self.restarts += 1
                self._log.warning("shard_restarted", generation=incarnation[0], pid=incarnation[1])
            self.incarnation = incarnation
        self._settle(results)
        if token is not None:
            try:
                ref = actor.collect.remote(token)
                ref.future().add_done_callback(partial(self._on_reply, batch, actor))
            except BaseException as exc:
                self._lost(batch, actor, exc)
            return
        # The call is over: an item it did not answer (its shard restarted between the call
        # and a collect) or that an old incarnation could not commit (fenced) goes again.
        with self._cond:
            left = [e for e in batch if e.item[0] in self._entries]
        self._finished(left, None)

    def _settle(self, results: list[Result]) -> None:
        """Settle each result's item, except a fenced one (never committed: sent again)."""
        settled: list[tuple[Entry, bool, Any]] = []
        processed = failed = 0
        with self._cond:
            entries = self._entries
            settle = self._clocks.settle
            for ref, ok, raw in results:
                entry = entries.pop(ref, None)
                if entry is None:
                    continue  # settled already (a resend's second answer, or closed)
                item = entry.item
                if ok:
                    value = raw
                    if item[1] == EVENT:
                        processed += 1
                else:
                    value = decode_error(raw)
                    if _fenced(value):
                        entries[ref] = entry  # still unsettled: sent again after its call
                        continue
                    if item[1] == EVENT:
                        failed += 1
                settle(item[2], item[3])
                settled.append((entry, ok, value))
            self.processed += processed
            self.failed += failed
        deliver = self._deliver
        feeds = self._feeds
        for entry, ok, value in settled:
            deliver(entry, ok, value)
            if feeds and entry.item[2] in feeds:
                self._feed(entry, ok, value)
        if settled:
            self._on_settled()

    def _feed(self, entry: Entry, ok: bool, value: Any) -> None:
        _, op, session_id, seq, _, _ = entry.item
        with self._publishing:
            feed = self._feeds.get(session_id)
            if feed is None or seq < feed.cursor:
                return
            turn = None
            if ok and op == EVENT and entry.event is not None:
                texts, typed = value
                turn = (entry.event, typed if typed is not None else texts)
            feed.held[seq] = turn
            while feed.cursor in feed.held:
                ready = feed.held.pop(feed.cursor)
                feed.cursor += 1
                if ready is not None:
                    self._publish(*ready)

    def _lost(self, batch: list[Entry], actor: Any, exc: BaseException) -> None:
        """The call failed: send its unsettled items again, or fail them if it cannot help."""
        if not isinstance(exc, self._actor_errors):
            # Not the shard being away: a bug or a value Ray could not move. Sending it again
            # would fail again; its outcome is unknown.
            error = ShardUnavailableError(
                f"shard {self.index} failed a batch: {type(exc).__name__}: {exc}; the "
                "events' outcome is unknown (resend them with the same message_id)",
                shard=self.index,
                maybe_committed=True,
            )
            error.__cause__ = exc
            self._fail(batch, error)
            self._finished([], None)
            return
        if isinstance(exc, self._died) and actor is self.actor:
            try:
                self.actor = self._revive(self.index)
                self._log.warning("shard_recreated", reason=str(exc)[:200])
            except BaseException as revive_error:  # the resend fails below
                self._log.error("shard_recreate_failed", error=str(revive_error)[:200])
        self._finished(batch, exc)

    def _finished(self, again: list[Entry], cause: BaseException | None) -> None:
        """End a call: queue ``again`` after a back-off (failing the overdue), free a slot."""
        now = time.monotonic()
        overdue: list[Entry] = []
        with self._cond:
            self._in_flight -= 1
            keep = []
            for entry in again:
                if entry.item[0] not in self._entries:
                    continue
                if self._closed or now - entry.first_sent > self._resend_timeout:
                    overdue.append(entry)
                else:
                    keep.append(entry)
            if keep:
                self.resends += len(keep)
                self._retries.append((now + self._backoff, keep))
                self._backoff = min(_MAX_BACKOFF, self._backoff * 2)
            self._cond.notify()
        if overdue:
            reason = "the runtime stopped" if self._closed else f"{self._resend_timeout:g} s"
            error = ShardUnavailableError(
                f"shard {self.index} could not be reached ({reason}); the events' outcome is "
                "unknown: resend them with the same message_id to find out (a committed one "
                "is answered from memory, never run twice)",
                shard=self.index,
                maybe_committed=True,
            )
            error.__cause__ = cause
            self._fail(overdue, error)

    def _fail(self, entries: list[Entry], error: BaseException) -> None:
        results: list[tuple[Entry, bool, Any]] = []
        with self._cond:
            for entry in entries:
                if self._entries.pop(entry.item[0], None) is None:
                    continue
                self._clocks.settle(entry.item[2], entry.item[3])
                if entry.item[1] == EVENT:
                    self.failed += 1
                results.append((entry, False, error))
        for entry, ok, value in results:
            self._deliver(entry, ok, value)
            if self._feeds and entry.item[2] in self._feeds:
                self._feed(entry, ok, value)
        if results:
            self._on_settled()

    # -- the end ----------------------------------------------------------------------------

    def close(self, timeout: float) -> None:
        """Stop sending; fail every unsettled item with ``RuntimeStoppedError``."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._retries.clear()
            self._cond.notify_all()
            left = list(self._entries.values())
        self._thread.join(timeout)
        self._fail(left, RuntimeStoppedError("the runtime stopped before this event was handled"))


def _fenced(error: BaseException) -> bool:
    """Whether a turn failed only because an old shard incarnation wrote it (never committed)."""
    return isinstance(error, ShardFencedError) or isinstance(error.__cause__, ShardFencedError)
