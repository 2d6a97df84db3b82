"""One measurement of one system: closed-loop throughput, or open-loop latency, checked.

W1 and W2 measure each system this way, and W6 measures ours on each store the same way; the
caller makes the system (so it can pass options, such as a store, and read the system after).
"""

from __future__ import annotations

import gc

from benchmarks._context import Context, Entry, merge, verdict
from benchmarks._load import closed_loop, open_loop, percentile
from benchmarks._scripts import Scripts
from benchmarks._systems import System

__all__ = ["latency", "throughput"]

_MS = 1000.0


def throughput(
    ctx: Context,
    workload: str,
    label: str,
    system: System,
    n: int,
    *,
    rounds: int,
    budget: float,
) -> Entry:
    """Open ``n`` sessions (untimed first message each), then time ``rounds`` closed rounds.

    Args:
        ctx: the run's context; the rate is recorded in ``ctx.max_rates[(label, n)]``.
        workload: the workload's name, for the verdict and the progress lines.
        label: the system's name in the results (``ours``, ``ours+sqlite``, ...).
        system: an unopened system; this closes it.
        n: sessions (users).
        rounds: timed messages per user after the first.
        budget: seconds after which no sender starts a new round.
    """
    skip = system.skip_reason(n)
    if skip is not None:
        return {"status": "skipped", "reason": skip}
    scripts = Scripts(n)
    system.open(n)
    try:
        warm = closed_loop(system, scripts, first_round=0, rounds=1, senders=ctx.settings.senders)
        gc.collect()
        run = closed_loop(
            system,
            scripts,
            first_round=1,
            rounds=rounds,
            senders=ctx.settings.senders,
            budget=budget,
        )
    finally:
        system.close()
    entry: Entry = {
        "events_per_s": run.rate,
        "events": run.events,
        "seconds": run.seconds,
        "rounds": run.rounds,
        "capped": run.capped,
        "open_seconds": warm.seconds,
    }
    entry = verdict(ctx, f"{workload} {label} n={n}", entry, *merge(warm, run))
    if entry["status"] == "ok":
        ctx.max_rates[(label, n)] = run.rate
        capped = " (time cap)" if run.capped else ""
        ctx.log(f"  {label:10} n={n:<7} {run.rate:>10,.0f} events/s{capped}")
    return entry


def latency(
    ctx: Context,
    workload: str,
    label: str,
    system: System,
    n: int,
    *,
    rate: float,
    duration: float,
) -> Entry:
    """Warm ``n`` sessions, then send ``rate`` events/s for ``duration`` s open loop; close.

    Latency runs from each event's scheduled send time to its reply (see ``open_loop``).
    """
    scripts = Scripts(n)
    system.open(n)
    try:
        warm = closed_loop(system, scripts, first_round=0, rounds=1, senders=ctx.settings.senders)
        run = open_loop(system, scripts, first_round=1, rate=rate, duration=duration)
    finally:
        system.close()
    lat, late = run.latencies, run.lateness
    entry: Entry = {
        "sent": run.sent,
        "achieved_per_s": run.sent / run.seconds if run.seconds > 0 else 0.0,
        "p50_ms": percentile(lat, 0.5) * _MS,
        "p99_ms": percentile(lat, 0.99) * _MS,
        "p999_ms": percentile(lat, 0.999) * _MS,
        "max_ms": (lat[-1] if lat else float("nan")) * _MS,
        "sender_lateness_p50_ms": percentile(late, 0.5) * _MS,
        "sender_lateness_p99_ms": percentile(late, 0.99) * _MS,
        "service_p50_ms": percentile(run.service, 0.5) * _MS,
        "service_p99_ms": percentile(run.service, 0.99) * _MS,
    }
    check = warm.check.merged(run.check) if warm.check and run.check else run.check
    entry = verdict(ctx, f"{workload} {label}", entry, check, warm.error or run.error)
    if entry["status"] == "ok":
        ctx.log(
            f"  {label:10} p50 {entry['p50_ms']:.2f} ms  p99 {entry['p99_ms']:.2f} ms  "
            f"p99.9 {entry['p999_ms']:.2f} ms"
        )
    return entry
