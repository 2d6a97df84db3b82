"""W6 durability: ours on the memory, SQLite and Redis stores, and restarts from a store.

Three systems, all ``runtime.Runtime`` on the greetings bot, differing only in ``store=``:
``ours+memory`` (the in-memory store: nothing is written per turn; the baseline the ratios are
taken against, measured in the same run), ``ours+sqlite`` and ``ours+redis`` (every committed
turn is encoded and written before its future resolves). Each measurement gets a fresh store
(a new SQLite file, a new Redis key prefix; see ``_stores``).

- Throughput: W1's closed loop (4 senders, rounds), at 1k and 100k sessions (quick: 1k, 10k).
- Latency: W2's open loop over 1k sessions at half of ``ours+memory``'s events/s at 1k (the
  target's load); for each durable store also at half its own events/s at 1k (``@own``).
- Restart: store N sessions (100k; quick 10k) with one message each through one runtime, stop
  it, then time opening the store, ``Runtime(bot, store=...).start()`` and the first reply
  of one stored session; then one message to each other stored session (rehydrating all).
  Every reply is checked against the oracle, so a restart that lost a turn is FAILED.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from benchmarks._bots import greetings_bot
from benchmarks._context import Context, Entry, merge, verdict
from benchmarks._load import ClosedLoopResult, closed_loop
from benchmarks._measure import latency, throughput
from benchmarks._scripts import Scripts
from benchmarks._stores import KINDS, Stores
from benchmarks._systems import OursSystem

__all__ = ["LABELS", "w6_durability"]

#: The name of each store's system in the results.
LABELS = {kind: f"ours+{kind}" for kind in KINDS}

# Sessions and timed messages per user after the first (W1's at the same sizes, fewer when
# quick): a durable store writes every one of them.
_FULL = {1_000: 60, 100_000: 2}
_QUICK = {1_000: 10, 10_000: 1}
_RESTART_FULL = 100_000
_RESTART_QUICK = 10_000
_LATENCY_SESSIONS = 1_000
# Latency is measured at half the memory store's rate even when a store cannot take that
# load (the queue then grows: that is the answer), unless its closed-loop maximum is this many
# times lower than the offered load: then the backlog would only measure the queue's length.
_OVERLOAD_LIMIT = 4.0


def w6_durability(ctx: Context) -> Entry:
    """W6: events/s and latency per store, and the time to restart from a store."""
    if "ours" not in ctx.settings.systems:
        return {
            "status": "skipped",
            "reason": "W6 measures ours on its stores; --systems leaves out ours",
        }
    quick = ctx.settings.quick
    sizes = _QUICK if quick else _FULL
    budget = 5.0 if quick else 30.0
    # Quick: 1 s, since a store that cannot take the load has a queue to drain after it.
    duration = 1.0 if quick else 10.0
    restart_n = _RESTART_QUICK if quick else _RESTART_FULL
    with Stores(ctx.log) as stores:
        where = stores.describe()
        ctx.log(
            f"W6 durability: SQLite in {where['sqlite_folder']} ({where['sqlite_file_system']});"
            f" Redis: {where['redis'] or 'SKIPPED: ' + str(where['redis_skipped'])}"
        )
        results: dict[str, dict[str, Entry]] = {}
        for n, rounds in sizes.items():
            ctx.log(f"W6 throughput: {n} sessions, {rounds} messages each after the first")
            results[str(n)] = {
                LABELS[kind]: _store_throughput(ctx, stores, kind, n, rounds=rounds, budget=budget)
                for kind in KINDS
            }
        latency_part = _latencies(ctx, stores, duration)
        ctx.log(f"W6 restart: {restart_n} stored sessions, then a new runtime on the same store")
        restarts = {LABELS[kind]: _restart(ctx, stores, kind, restart_n) for kind in KINDS[1:]}
    return {
        "stores": where,
        "senders": ctx.settings.senders,
        "messages_per_user": {str(n): r + 1 for n, r in sizes.items()},
        "time_cap_s": budget,
        "results": results,
        "latency": latency_part,
        "restart": {"sessions": restart_n, "results": restarts},
    }


def _skipped(ctx: Context, kind: str, stores: Stores) -> Entry | None:
    reason = stores.skip_reason(kind)
    if reason is None:
        return None
    ctx.log(f"  {LABELS[kind]:11} SKIPPED: {reason}")
    return {"status": "skipped", "reason": reason}


def _store_failed(ctx: Context, where: str, exc: Exception) -> Entry:
    why = f"opening the store failed: {type(exc).__name__}: {exc}"
    ctx.failed.append(f"{where}: {why}")
    ctx.log(f"  FAILED {where}: {why}")
    return {"status": "FAILED", "reason": why}


def _statistics(store: Any) -> Entry:
    """Return the store's group-commit counters (durable stores only), as JSON numbers."""
    statistics = getattr(store, "statistics", None)
    if not callable(statistics):
        return {}
    counts = statistics()
    batches, writes = counts.get("batches", 0), counts.get("writes", 0)
    return {
        "store_batches": batches,
        "store_writes": writes,
        "writes_per_batch": writes / batches if batches else None,
    }


def _store_throughput(
    ctx: Context, stores: Stores, kind: str, n: int, *, rounds: int, budget: float
) -> Entry:
    label = LABELS[kind]
    skipped = _skipped(ctx, kind, stores)
    if skipped is not None:
        return skipped
    try:
        store = stores.open(kind, f"throughput-{n}")
    except Exception as exc:
        return _store_failed(ctx, f"W6 {label} n={n}", exc)
    try:
        system = OursSystem(greetings_bot(), store=store)
        entry = throughput(ctx, "W6", label, system, n, rounds=rounds, budget=budget)
        if entry.get("status") == "ok":
            entry.update(_statistics(store))
    finally:
        store.close()
    return entry


def _latencies(ctx: Context, stores: Stores, duration: float) -> Entry:
    n = _LATENCY_SESSIONS
    memory_max = ctx.max_rates.get((LABELS["memory"], n))
    if memory_max is None:
        return {"status": "skipped", "reason": f"no {LABELS['memory']} events/s at {n} sessions"}
    rate = memory_max / 2
    ctx.log(f"W6 latency: open loop at {rate:,.0f} events/s over {n} sessions, {duration:.0f} s")
    results = {LABELS[kind]: _store_latency(ctx, stores, kind, rate, duration) for kind in KINDS}
    # For the runtime's owner: the same at half each durable store's own maximum, a load it
    # can take (not a target; the target's load is the memory store's).
    own: dict[str, Entry] = {}
    for kind in KINDS[1:]:
        capacity = ctx.max_rates.get((LABELS[kind], n))
        if capacity is not None and capacity / 2 < rate:
            ctx.log(f"W6 latency at half {LABELS[kind]}'s own max: {capacity / 2:,.0f} events/s")
            own[LABELS[kind]] = _store_latency(
                ctx, stores, kind, capacity / 2, duration, shown=f"{LABELS[kind]}@own"
            )
            own[LABELS[kind]]["offered_per_s"] = capacity / 2
    return {
        "sessions": n,
        "offered_per_s": rate,
        "seconds": duration,
        "gc_frozen_before_window": True,
        "results": results,
        "at_half_own_max": own,
    }


def _store_latency(
    ctx: Context, stores: Stores, kind: str, rate: float, duration: float, *, shown: str = ""
) -> Entry:
    """Measure ``kind``'s latency at ``rate``; ``shown`` names the run in logs (default: label)."""
    n = _LATENCY_SESSIONS
    label = LABELS[kind]
    skipped = _skipped(ctx, kind, stores)
    if skipped is not None:
        return skipped
    capacity = ctx.max_rates.get((label, n))
    if capacity is None:
        return {"status": "skipped", "reason": f"no events/s at {n} sessions (it failed)"}
    if capacity * _OVERLOAD_LIMIT < rate:
        reason = (
            f"cannot take the load: closed-loop max {capacity:,.0f}/s is under "
            f"1/{_OVERLOAD_LIMIT:g} of the {rate:,.0f}/s offered"
        )
        ctx.log(f"  {label:11} SKIPPED: {reason}")
        return {"status": "skipped", "reason": reason, "overloaded": True}
    try:
        store = stores.open(kind, f"latency-{n}-{rate:.0f}")
    except Exception as exc:
        return _store_failed(ctx, f"W6 latency {label}", exc)
    try:
        system = OursSystem(greetings_bot(), store=store)
        entry = latency(ctx, "W6", shown or label, system, n, rate=rate, duration=duration)
        if entry.get("status") == "ok":
            entry.update(_statistics(store))
    finally:
        store.close()
    entry["closed_loop_max_per_s"] = capacity
    entry["over_closed_loop_max"] = rate > capacity
    return entry


def _restart(ctx: Context, stores: Stores, kind: str, n: int) -> Entry:
    """Store ``n`` sessions, stop; time a new runtime's start, first reply, and all replies."""
    label = LABELS[kind]
    skipped = _skipped(ctx, kind, stores)
    if skipped is not None:
        return skipped
    where = f"W6 restart {label}"
    tag = f"restart-{n}"
    scripts = Scripts(n, prefix="r")
    senders = ctx.settings.senders
    try:
        store = stores.open(kind, tag)
    except Exception as exc:
        return _store_failed(ctx, where, exc)
    try:
        system = OursSystem(greetings_bot(), store=store)
        system.open(n)
        try:
            stored = closed_loop(system, scripts, first_round=0, rounds=1, senders=senders)
        finally:
            system.close()
    finally:
        store.close()
    runs = [stored]
    entry: Entry = {"store_seconds": stored.seconds}
    if stored.error is None and stored.check is not None and stored.check.ok:
        del system
        gc.collect()
        entry.update(_timed_restart(stores, kind, tag, scripts, senders=senders, runs=runs))
    entry = verdict(ctx, where, entry, *merge(*runs))
    if entry["status"] == "ok":
        ctx.log(
            f"  {label:11} stored {n} sessions in {entry['store_seconds']:.1f} s; restart: "
            f"first reply after {entry['first_reply_ms']:.1f} ms (start "
            f"{entry['start_ms']:.1f} ms), all {n} replied after {entry['all_replied_s']:.2f} s"
            f" ({entry['rehydration_us']:.0f} us/session)"
        )
    return entry


def _timed_restart(
    stores: Stores,
    kind: str,
    tag: str,
    scripts: Scripts,
    *,
    senders: int,
    runs: list[ClosedLoopResult],
) -> Entry:
    """Open the stored sessions again in a new runtime and send each one message."""
    n = len(scripts)
    bot = greetings_bot()  # loading the bot's module is not part of the restart
    probe = ClosedLoopResult()
    runs.append(probe)
    started = time.perf_counter()
    try:
        store = stores.open(kind, tag)
    except Exception as exc:  # the server went away, say: reported through the verdict
        probe.error = f"opening the store again failed: {type(exc).__name__}: {exc}"
        return {}
    try:
        system = OursSystem(bot, store=store)
        system.open(n)
        running = time.perf_counter()
        try:
            try:
                first = system.wait([system.submit(scripts.ids[0], scripts.text(0, 1))])
            except Exception as exc:  # the store failed it: reported through the verdict
                probe.error = f"{type(exc).__name__}: {exc}"
                return {}
            replied = time.perf_counter()
            probe.check = scripts.check([0], 1, [first])
            rest = closed_loop(
                system, scripts, first_round=1, rounds=1, senders=senders, users=range(1, n)
            )
            runs.append(rest)
            finished = time.perf_counter()
            rehydrated = system.runtime.stats().rehydrations
            kept = len(store)
        finally:
            system.close()
    finally:
        store.close()
    if rehydrated != n or kept != n:
        rest.error = rest.error or (
            f"rehydrated {rehydrated} of {n} stored sessions; the store holds {kept}"
        )
    return {
        "start_ms": (running - started) * 1e3,
        "first_reply_ms": (replied - started) * 1e3,
        "all_replied_s": finished - started,
        "rehydrate_rest_s": rest.seconds,
        "rehydration_us": rest.seconds * 1e6 / max(1, n - 1),
        "rehydrated": rehydrated,
        "stored_sessions": kept,
    }
