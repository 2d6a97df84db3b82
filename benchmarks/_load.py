"""Load drivers: closed loop (throughput) and open loop (latency), each checking transcripts.

The drivers keep their own per-event work small and the same for every system: scripts are
pre-built, a sender's round is one ``map`` over pre-built lists, transcripts are assembled
after the clock stops.
"""

from __future__ import annotations

import gc
import itertools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks._scripts import Check, Scripts
from benchmarks._systems import WAIT_TIMEOUT, OnDone, System

__all__ = [
    "ClosedLoopResult",
    "OpenLoopResult",
    "busy_users",
    "closed_loop",
    "open_loop",
    "percentile",
]

_perf_counter = time.perf_counter
_TICK = 0.001


@dataclass
class ClosedLoopResult:
    """What a closed-loop run did: events completed, in how long, and whether right."""

    events: int = 0
    seconds: float = 0.0
    rounds: int = 0  # rounds completed by the slowest sender
    capped: bool = False  # the time budget ran out before every round was done
    # Per sender, the round its users are at now: pass it as the next run's first_round
    # (under a time budget, senders stop after different numbers of rounds).
    next_rounds: list[int] = field(default_factory=list)
    check: Check | None = None
    error: str | None = None

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class OpenLoopResult:
    """What an open-loop run measured: latencies from scheduled send times, sorted."""

    rate: float = 0.0  # offered events per second
    sent: int = 0
    seconds: float = 0.0  # from the first scheduled send to the last reply
    latencies: list[float] = field(default_factory=list)  # seconds, sorted
    lateness: list[float] = field(default_factory=list)  # actual - scheduled send, sorted
    service: list[float] = field(default_factory=list)  # reply - actual send, sorted
    check: Check | None = None
    error: str | None = None


def percentile(ordered: Sequence[float], q: float) -> float:
    """Return the ``q``-quantile (0..1) of sorted values, nearest rank."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


def closed_loop(
    system: System,
    scripts: Scripts,
    *,
    first_round: int | Sequence[int],
    rounds: int,
    senders: int,
    budget: float | None = None,
    users: Sequence[int] | None = None,
) -> ClosedLoopResult:
    """Run ``rounds`` rounds: each sender sends one message to each of its users, then waits.

    Args:
        system: an opened system.
        scripts: the users' scripts; users must have had rounds ``0..first_round-1`` already.
        first_round: the round (message index) to start at; or, per sender, the
            ``next_rounds`` of the previous run with the same users and senders.
        rounds: how many rounds; with ``budget``, senders stop starting rounds after it.
        senders: sender threads (capped by ``system.max_senders``).
        budget: seconds after which no sender starts a new round (None: no cap).
        users: the user indices to drive (default: all).
    """
    if users is None:
        users = range(len(scripts))
    count = max(1, min(senders, system.max_senders or senders, len(users)))
    shares = [list(users[s::count]) for s in range(count)]
    firsts = [first_round] * count if isinstance(first_round, int) else list(first_round)
    if len(firsts) != count:
        raise ValueError(f"first_round has {len(firsts)} entries for {count} senders")
    ids = scripts.ids
    plans = [([ids[u] for u in share], scripts.cycle(share)) for share in shares]
    got: list[list[list[list[str]]]] = [[] for _ in range(count)]
    ends = [0.0] * count
    errors: list[str] = []
    stop = threading.Event()
    start_gate = threading.Barrier(count + 1)
    start_box = [0.0]
    length = scripts.length

    def send(index: int) -> None:
        my_ids, cycle = plans[index]
        mine = got[index]
        submit = system.submit
        wait = system.wait
        start_gate.wait()
        deadline = None if budget is None else start_box[0] + budget
        first = firsts[index]
        try:
            for round_ in range(first, first + rounds):
                handles = list(map(submit, my_ids, cycle[round_ % length]))
                mine.append(wait(handles))
                if stop.is_set() or (deadline is not None and _perf_counter() > deadline):
                    break
        except Exception as exc:  # a stuck or failing system: report it, stop the others
            errors.append(f"{type(exc).__name__}: {exc}")
            stop.set()
        ends[index] = _perf_counter()

    threads = [
        threading.Thread(target=send, args=(i,), name=f"bench-sender-{i}") for i in range(count)
    ]
    for thread in threads:
        thread.start()
    start_box[0] = _perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    result = ClosedLoopResult(seconds=max(ends) - start_box[0])
    result.rounds = min(len(g) for g in got)
    result.capped = result.rounds < rounds
    result.events = sum(len(share) * len(g) for share, g in zip(shares, got, strict=True))
    result.next_rounds = [first + len(g) for first, g in zip(firsts, got, strict=True)]
    if errors:
        result.error = errors[0]
    result.check = _check_rounds(scripts, shares, firsts, got)
    return result


def _check_rounds(
    scripts: Scripts,
    shares: list[list[int]],
    firsts: list[int],
    got: list[list[list[list[str]]]],
) -> Check | None:
    """Check each sender's rounds: ``got[s][round][j]`` are the replies of ``shares[s][j]``."""
    check: Check | None = None
    for share, first, rounds_got in zip(shares, firsts, got, strict=True):
        transcripts = [[replies[j] for replies in rounds_got] for j in range(len(share))]
        part = scripts.check(share, first, transcripts)
        check = part if check is None else check.merged(part)
    return check


def _freeze_heap() -> None:
    """Move every object alive now out of the cyclic GC's reach (``gc.unfreeze`` undoes it).

    Used before a latency window: objects alive before the clock starts (the harness's plan,
    earlier workloads' leftovers, the sessions) are then not scanned by the full collections
    during the window, which scan only what the window allocates. Measured: otherwise a 30 ms
    pause lands in every system's p99, the direct loop's included.
    """
    gc.collect()
    gc.freeze()


def _expected_per_event(scripts: Scripts, first_round: int, total: int) -> list[Any]:
    """Return the oracle's replies for event ``i`` (user ``i % n``), for ``total`` events."""
    n = len(scripts)
    want: list[Any] = [None] * total
    for user in range(n):
        want[user::n] = scripts.expected(user, first_round, len(range(user, total, n)))
    return want


def open_loop(
    system: System, scripts: Scripts, *, first_round: int, rate: float, duration: float
) -> OpenLoopResult:
    """Send at scheduled times regardless of replies, from the calling thread.

    Event ``i`` is due at ``t0 + i / rate`` and goes to user ``i % n`` (its next message);
    latency is the reply time (stamped by the system's ``on_done`` callback) minus the due
    time, so a sender or system that falls behind shows up in the latencies instead of hiding.
    Handles are not kept: replies arrive through the callbacks, which check each reply against
    the oracle's at once and keep only the verdict (keeping every reply list grew the heap the
    garbage collector scans during the timed window, and its pauses then dominated every
    system's p99).
    """
    n = len(scripts)
    total = max(n, int(rate * duration))
    ids = scripts.ids
    targets = [ids[i % n] for i in range(total)]
    texts = [scripts.text(i % n, first_round + i // n) for i in range(total)]
    want = _expected_per_event(scripts, first_round, total)
    done = [0.0] * total
    outcomes: list[Any] = [None] * total  # True (right), or the wrong reply / exception
    sent_at = [0.0] * total
    finished = itertools.count(1)  # next() is atomic: callbacks run on many threads
    all_done = threading.Event()

    def stamp_for(index: int) -> OnDone:
        def stamp(outcome: Any) -> None:
            done[index] = _perf_counter()
            outcomes[index] = True if outcome == want[index] else outcome
            if next(finished) == total:
                all_done.set()

        return stamp

    interval = 1.0 / rate
    submit = system.submit
    sleep = time.sleep
    result = OpenLoopResult(rate=rate)
    _freeze_heap()
    t0 = _perf_counter() + 0.005
    try:
        for i in range(total):
            due = t0 + i * interval
            now = _perf_counter()
            if now < due:
                # Wake at most every _TICK and then send all that is due: every wake-up
                # must win the GIL back from busy workers (up to the 5 ms switch interval),
                # so a sleep per event would make the sender, not the system, the bottleneck.
                # The delay is recorded as sender lateness and counts in the latencies.
                sleep(max(due - now, _TICK))
                now = _perf_counter()
            sent_at[i] = now
            submit(targets[i], texts[i], stamp_for(i))
            result.sent = i + 1
    except Exception as exc:
        gc.unfreeze()
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    all_in = all_done.wait(WAIT_TIMEOUT)
    gc.unfreeze()
    if not all_in:
        missing = sum(1 for outcome in outcomes if outcome is None)
        result.error = f"{missing} of {total} replies missing after {WAIT_TIMEOUT:.0f} s"
        return result
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        result.error = f"{len(failures)} events failed, e.g. {failures[0]!r}"
    result.seconds = max(done) - t0
    result.latencies = sorted(done[i] - (t0 + i * interval) for i in range(total))
    result.lateness = sorted(sent_at[i] - (t0 + i * interval) for i in range(total))
    result.service = sorted(done[i] - sent_at[i] for i in range(total))
    # Rebuild each user's transcript from the verdicts (a right reply is the oracle's).
    got = [want[i] if outcome is True else outcome for i, outcome in enumerate(outcomes)]
    result.check = scripts.check(range(n), first_round, [got[u::n] for u in range(n)])
    return result


def busy_users(
    system: System,
    scripts: Scripts,
    *,
    first_round: int,
    budget: float,
    senders: int,
) -> ClosedLoopResult:
    """For ``budget`` seconds, send each user's next message as soon as its last is answered.

    A closed loop per user without rounds, so a slow reply holds back only its own user.
    Each sender thread drives its share of the users; replies come back through ``on_done``
    and put the user back in its sender's queue. A user has at most one message outstanding,
    so its transcript is checked like a closed loop's. ``seconds`` runs until the last
    outstanding reply is in; ``next_rounds`` is per user.
    """
    users = range(len(scripts))
    count = max(1, min(senders, system.max_senders or senders, len(users)))
    shares = [list(users[s::count]) for s in range(count)]
    parts: list[ClosedLoopResult] = [ClosedLoopResult() for _ in range(count)]
    start_gate = threading.Barrier(count + 1)
    start_box = [0.0]

    def send(index: int) -> None:
        start_gate.wait()
        parts[index] = _busy_share(
            system, scripts, shares[index], first_round, start_box[0] + budget
        )

    threads = [
        threading.Thread(target=send, args=(i,), name=f"bench-busy-{i}") for i in range(count)
    ]
    for thread in threads:
        thread.start()
    start_box[0] = _perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    result = ClosedLoopResult(seconds=_perf_counter() - start_box[0])
    result.events = sum(part.events for part in parts)
    result.next_rounds = [0] * len(users)  # per user, unlike closed_loop's per sender
    for share, part in zip(shares, parts, strict=True):
        for user, next_round in zip(share, part.next_rounds, strict=True):
            result.next_rounds[user] = next_round
    for part in parts:
        result.error = result.error or part.error
        if part.check is not None:
            result.check = part.check if result.check is None else result.check.merged(part.check)
    return result


def _busy_share(
    system: System, scripts: Scripts, share: list[int], first_round: int, deadline: float
) -> ClosedLoopResult:
    """Drive ``share`` (user indices) until ``deadline``; see :func:`busy_users`."""
    ids = scripts.ids
    free: queue.SimpleQueue[int] = queue.SimpleQueue()  # positions in share
    transcripts: list[list[Any]] = [[] for _ in share]
    errors: list[BaseException] = []

    def reply_for(position: int) -> OnDone:
        def reply(outcome: Any) -> None:
            if isinstance(outcome, BaseException):
                errors.append(outcome)
            transcripts[position].append(outcome)
            free.put(position)

        return reply

    for position in range(len(share)):
        free.put(position)
    result = ClosedLoopResult()
    submit = system.submit
    text = scripts.text
    try:
        while _perf_counter() < deadline:
            try:
                position = free.get(timeout=max(0.0, deadline - _perf_counter()))
            except queue.Empty:
                break
            user = share[position]
            round_ = first_round + len(transcripts[position])
            submit(ids[user], text(user, round_), reply_for(position))
            result.events += 1
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    for _ in share:  # every user back: nothing outstanding
        try:
            free.get(timeout=WAIT_TIMEOUT)
        except queue.Empty:
            result.error = result.error or f"replies missing after {WAIT_TIMEOUT:.0f} s"
            break
    if errors:
        result.error = result.error or f"{len(errors)} events failed, e.g. {errors[0]!r}"
    result.next_rounds = [first_round + len(t) for t in transcripts]
    result.check = scripts.check(share, first_round, transcripts)
    return result
