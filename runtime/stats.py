"""Counters of a Runtime and the frozen ``RuntimeStats`` view that ``Runtime.stats()`` returns."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.errors import OverloadedError, RuntimeStoppedError

if TYPE_CHECKING:
    from runtime.actors._session_actor import TurnRequest
    from runtime.engine import TurnOutcome

__all__ = ["Counters", "RuntimeStats"]


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
    workers: int  # dispatcher worker threads now
    peak_workers: int  # most dispatcher worker threads at once


class Counters:
    """The Runtime's counters; every update takes one short lock so stats() is exact."""

    def __init__(self, max_pending: int | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.running = False
        self.max_pending = max_pending
        self.accepted = 0
        self.processed = 0
        self.failures = 0
        self.rejected = 0
        self.opened = 0
        self.duplicates = 0
        self.replies = 0
        self.body_errors = 0
        self.event_errors = 0
        self.classifier_errors = 0
        self.hop_limit_hits = 0
        self.restarts = 0
        self._waiting = 0

    @property
    def pending(self) -> int:
        return self.accepted - self.processed - self.failures

    def accept(self) -> None:
        """Count one event in, or refuse it.

        Raises:
            RuntimeStoppedError: the runtime is not running.
            OverloadedError: ``max_pending`` events are already pending.
        """
        with self._cond:
            if not self.running:
                raise RuntimeStoppedError(
                    "the runtime is not running: start it (use `with Runtime(bot) as rt:`) "
                    "and send events before stop()"
                )
            if self.max_pending is not None and self.pending >= self.max_pending:
                self.rejected += 1
                raise OverloadedError("pending_events", self.pending, self.max_pending)
            self.accepted += 1

    def unaccept(self) -> None:
        """Take back an accept whose event was then refused before queuing."""
        with self._cond:
            self.accepted -= 1
            self.rejected += 1
            self._notify_if_idle()

    def completed(self, request: TurnRequest, outcome: TurnOutcome) -> bool:
        """Claim ``request`` as processed; False if it was already resolved (count nothing).

        Counting happens before the future resolves, so a caller woken by its future always
        sees its event counted in stats().
        """
        with self._cond:
            if request.resolved:
                return False
            request.resolved = True
            self.processed += 1
            self.replies += len(outcome.replies)
            if outcome.duplicate:
                self.duplicates += 1
            if outcome.opened:
                self.opened += 1
            if outcome.body_errors:
                self.body_errors += outcome.body_errors
            if outcome.event_errors:
                self.event_errors += outcome.event_errors
            if outcome.classifier_errors:
                self.classifier_errors += outcome.classifier_errors
            if outcome.hop_limit_hit:
                self.hop_limit_hits += 1
            self._notify_if_idle()
            return True

    def failed(self, request: TurnRequest) -> bool:
        """Claim ``request`` as failed; False if it was already resolved."""
        with self._cond:
            if request.resolved:
                return False
            request.resolved = True
            self.failures += 1
            self._notify_if_idle()
            return True

    def restarted(self) -> None:
        with self._cond:
            self.restarts += 1

    def stop_accepting(self) -> bool:
        """Stop accepting; return whether the runtime was running."""
        with self._cond:
            was = self.running
            self.running = False
            return was

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no event is pending; return False if ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while self.pending > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._waiting -= 1

    def _notify_if_idle(self) -> None:
        if self._waiting and self.pending == 0:
            self._cond.notify_all()

    def snapshot(self, sessions_live: int, workers: int, peak_workers: int) -> RuntimeStats:
        with self._cond:
            return RuntimeStats(
                sessions_live=sessions_live,
                sessions_opened=self.opened,
                events_accepted=self.accepted,
                events_processed=self.processed,
                events_failed=self.failures,
                events_pending=self.pending,
                events_rejected=self.rejected,
                duplicates=self.duplicates,
                replies=self.replies,
                body_errors=self.body_errors,
                event_errors=self.event_errors,
                classifier_errors=self.classifier_errors,
                hop_limit_hits=self.hop_limit_hits,
                actor_restarts=self.restarts,
                workers=workers,
                peak_workers=peak_workers,
            )
