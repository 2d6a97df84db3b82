"""Counters of a Runtime and the frozen ``RuntimeStats`` view that ``Runtime.stats()`` returns."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.errors import RuntimeStoppedError

if TYPE_CHECKING:
    from runtime.engine import TurnOutcome

__all__ = ["CounterCell", "Counters", "RuntimeStats"]


@dataclass(frozen=True)
class RuntimeStats:
    """Counters of one Runtime at one moment.

    ``events_accepted == events_processed + events_failed + events_pending`` always holds.
    """

    sessions_live: int  # sessions with an actor now
    sessions_opened: int  # initial bodies run (first contacts and resets)
    events_accepted: int  # futures handed out
    events_processed: int  # futures resolved with replies
    events_failed: int  # futures failed (actor crash, runtime stopped)
    events_pending: int  # accepted, not yet resolved or failed
    events_rejected: int  # refused at the door (OverloadedError); never accepted
    duplicates: int  # resends of a known message_id answered from memory
    replies: int  # replies produced
    body_errors: int  # exceptions raised by bodies and fallback bodies (logged)
    event_errors: int  # exceptions raised by event functions and operations (logged)
    classifier_errors: int  # exceptions raised by the classifier (logged; fallback predicted)
    hop_limit_hits: int  # turns cut because their hops exceeded max_hops
    actor_restarts: int  # session actors replaced after dying
    sessions_passivated: int  # sessions this runtime moved to the store and did not bring back
    activations: int  # session actors started for a session (first contact or rehydration)
    rehydrations: int  # sessions loaded back from the store
    passivations: int  # sessions moved to the store
    workers: int  # dispatcher worker threads now
    peak_workers: int  # most dispatcher worker threads at once
    turn_timeouts: int = 0  # turns failed for running past turn_timeout (rolled back later)
    store_errors: int = 0  # store loads, saves and deletes that failed (the event had no effect)
    value_errors: int = 0  # turns not committed because a session value could not be copied
    sessions_forgotten: int = 0  # sessions erased with Runtime.forget
    subscribers: int = 0  # reply subscriptions now
    event_retries: int = 0  # events run again after crashing their actor (rolled back first)
    poison_events: int = 0  # events quarantined after crashing their actor poison_after times


_FIELDS = (
    "accepted",
    "processed",
    "failures",
    "rejected",
    "opened",
    "duplicates",
    "replies",
    "body_errors",
    "event_errors",
    "classifier_errors",
    "hop_limit_hits",
    "restarts",
    "activations",
    "rehydrations",
    "passivations",
    "turn_timeouts",
    "store_errors",
    "value_errors",
    "forgotten",
    "retries",
    "poisoned",
)


class CounterCell:
    """One thread's counters; only that thread writes them, so ``+=`` loses nothing."""

    __slots__ = _FIELDS

    accepted: int
    processed: int
    failures: int
    rejected: int
    opened: int
    duplicates: int
    replies: int
    body_errors: int
    event_errors: int
    classifier_errors: int
    hop_limit_hits: int
    restarts: int
    activations: int
    rehydrations: int
    passivations: int
    turn_timeouts: int
    store_errors: int
    value_errors: int
    forgotten: int
    retries: int
    poisoned: int

    def __init__(self) -> None:
        for name in _FIELDS:
            setattr(self, name, 0)

    def add_outcome(self, outcome: TurnOutcome, sign: int = 1) -> None:
        """Count a processed turn (``sign=-1`` takes it back)."""
        self.processed += sign
        self.replies += sign * len(outcome.replies)
        self.add_notes(outcome, sign)

    def add_notes(self, outcome: TurnOutcome, sign: int) -> None:
        """Count what a turn noted besides its replies (most turns note nothing)."""
        if outcome.duplicate:
            self.duplicates += sign
        if outcome.opened:
            self.opened += sign
        if outcome.body_errors:
            self.body_errors += sign * outcome.body_errors
        if outcome.event_errors:
            self.event_errors += sign * outcome.event_errors
        if outcome.classifier_errors:
            self.classifier_errors += sign * outcome.classifier_errors
        if outcome.hop_limit_hit:
            self.hop_limit_hits += sign


class Counters:
    """The Runtime's counters, kept per thread and summed on read.

    One shared lock on every event was measured to cause lock convoys under the GIL (a sender
    preempted while holding it stalls the workers): 1 worker + 8 senders swung between 13k and
    50k events/s from run to run. Per-thread cells need no lock on the hot path; ``stats()``
    sums them. Cells of finished threads are folded into a base cell so they do not pile up.
    """

    def __init__(self) -> None:
        self.running = False
        self._drained: threading.Event | None = None
        # Ids of the sessions this runtime passivated and did not load back (set.add/discard
        # are atomic under the GIL). Ids are shared with the store's keys: ~50 bytes each.
        self.passivated: set[str] = set()  # set when pending reaches 0 while draining
        # One entry per accepted, unresolved event: deque append/pop are atomic under the GIL,
        # so len() is a lock-free pending count for the backpressure bound and for draining.
        self._pending: deque[None] = deque()
        self._local = threading.local()
        self._cells: list[CounterCell] = []
        self._base = CounterCell()
        self._lock = threading.Lock()

    def cell(self) -> CounterCell:
        """Return the calling thread's cell."""
        try:
            return self._local.cell  # type: ignore[no-any-return]
        except AttributeError:
            cell = CounterCell()
            self._local.cell = cell
            with self._lock:
                self._cells.append(cell)
            weakref.finalize(threading.current_thread(), self._retire, cell)
            return cell

    def _retire(self, cell: CounterCell) -> None:
        with self._lock:
            for name in _FIELDS:
                setattr(self._base, name, getattr(self._base, name) + getattr(cell, name))
            self._cells.remove(cell)

    def totals(self) -> dict[str, int]:
        """Return every counter summed over every thread."""
        with self._lock:
            cells = [self._base, *self._cells]
            return {name: sum(getattr(c, name) for c in cells) for name in _FIELDS}

    @property
    def pending(self) -> int:
        """Events accepted and not yet resolved."""
        t = self.totals()
        return t["accepted"] - t["processed"] - t["failures"]

    def check_running(self) -> None:
        """Raise ``RuntimeStoppedError`` unless the runtime accepts events."""
        if not self.running:
            raise RuntimeStoppedError(
                "the runtime is not running: start it (use `with Runtime(bot) as rt:`) "
                "and send events before stop()"
            )

    def accept(self) -> None:
        """Count one event in.

        Raises:
            RuntimeStoppedError: the runtime is not running.
        """
        self.check_running()
        self.cell().accepted += 1
        self._pending.append(None)

    def unaccept(self) -> None:
        """Take back an accept whose event was then refused by a bound (counted as rejected)."""
        cell = self.cell()
        cell.accepted -= 1
        self.resolved()

    def resolved(self) -> bool:
        """Note that one accepted event was resolved; False if nothing was pending."""
        # IndexError cannot happen if every resolution is counted once; never let it escape.
        # (Not contextlib.suppress: this runs for every event.)
        try:
            self._pending.pop()
        except IndexError:
            return False
        if self._drained is not None and not self._pending:
            self._drained.set()
        return True

    def processed_one(self, outcome: TurnOutcome) -> bool:
        """Count a committed turn and resolve its event; False if nothing was pending.

        ``CounterCell.add_outcome`` and :meth:`resolved` inline: this runs for every event.
        """
        try:
            cell = self._local.cell
        except AttributeError:
            cell = self.cell()
        cell.processed += 1
        cell.replies += len(outcome.replies)
        if (
            outcome.duplicate
            or outcome.opened
            or outcome.body_errors
            or outcome.event_errors
            or outcome.classifier_errors
            or outcome.hop_limit_hit
        ):
            cell.add_notes(outcome, 1)
        pending = self._pending
        try:
            pending.pop()
        except IndexError:
            return False
        if self._drained is not None and not pending:
            self._drained.set()
        return True

    def unresolve(self) -> None:
        """Take back a ``resolved()`` whose settling lost a race (someone else settled it)."""
        self._pending.append(None)

    @property
    def pending_now(self) -> int:
        """Events accepted and not yet resolved, read without a lock."""
        return len(self._pending)

    def rejected(self) -> None:
        """Count one event refused by a bound."""
        self.cell().rejected += 1

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no event is pending; return False if ``timeout`` ran out first."""
        drained = self._drained = threading.Event()
        if not self._pending:
            return True
        return drained.wait(timeout) or not self._pending

    def snapshot(
        self, sessions_live: int, workers: int, peak_workers: int, subscribers: int = 0
    ) -> RuntimeStats:
        """Return the frozen view ``Runtime.stats()`` hands out."""
        t = self.totals()
        return RuntimeStats(
            sessions_live=sessions_live,
            sessions_opened=t["opened"],
            events_accepted=t["accepted"],
            events_processed=t["processed"],
            events_failed=t["failures"],
            events_pending=t["accepted"] - t["processed"] - t["failures"],
            events_rejected=t["rejected"],
            duplicates=t["duplicates"],
            replies=t["replies"],
            body_errors=t["body_errors"],
            event_errors=t["event_errors"],
            classifier_errors=t["classifier_errors"],
            hop_limit_hits=t["hop_limit_hits"],
            actor_restarts=t["restarts"],
            sessions_passivated=len(self.passivated),
            activations=t["activations"],
            rehydrations=t["rehydrations"],
            passivations=t["passivations"],
            workers=workers,
            peak_workers=peak_workers,
            turn_timeouts=t["turn_timeouts"],
            store_errors=t["store_errors"],
            value_errors=t["value_errors"],
            sessions_forgotten=t["forgotten"],
            subscribers=subscribers,
            event_retries=t["retries"],
            poison_events=t["poisoned"],
        )
