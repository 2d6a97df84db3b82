"""The workloads W1-W6 and W8 (issue #4; W6 in ``_durability``, W8 in ``_web``); each returns a
JSON-ready dict.

Every measured run is checked against the oracle; a system whose replies are wrong (or that
fails, or times out) gets ``status: "FAILED"`` and no number is reported for it.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from typing import Any

from benchmarks._bots import BLOCK_SECONDS
from benchmarks._context import Context, Entry, merge, verdict
from benchmarks._durability import w6_durability
from benchmarks._load import ClosedLoopResult, busy_users, closed_loop
from benchmarks._measure import latency, throughput
from benchmarks._memory import run_child
from benchmarks._scripts import Check, Scripts, blocking_patterns, is_slow
from benchmarks._systems import SYSTEMS, OursSystem, make_system
from benchmarks._web import w8_web

__all__ = ["WORKLOADS", "ours_w1_rate"]

# Sizes and per-size rounds (messages per user after the first); the full run aims at a few
# seconds per system, the quick run at well under a second for ours.
_W1_FULL = {100: 600, 1_000: 60, 10_000: 6, 100_000: 2}
_W1_QUICK = {100: 200, 1_000: 20}
_CALIBRATION_SESSIONS = 1_000
_BLOCKING_SHARE = 0.05


def w1_throughput(ctx: Context) -> Entry:
    """W1: closed-loop events/s for each system at each session count."""
    sizes = _W1_QUICK if ctx.settings.quick else _W1_FULL
    budget = 5.0 if ctx.settings.quick else 30.0
    results: dict[str, dict[str, Entry]] = {}
    for n, rounds in sizes.items():
        ctx.log(f"W1 throughput: {n} sessions, {rounds} messages each after the first")
        results[str(n)] = {
            name: throughput(ctx, "W1", name, make_system(name), n, rounds=rounds, budget=budget)
            for name in ctx.pick()
        }
    return {
        "senders": ctx.settings.senders,
        "messages_per_user": {str(n): r + 1 for n, r in sizes.items()},
        "time_cap_s": budget,
        "results": results,
    }


def _max_rate(ctx: Context, name: str) -> float | None:
    """Return ``name``'s W1 events/s at 1k sessions, measuring it briefly if W1 did not."""
    key = (name, _CALIBRATION_SESSIONS)
    if key not in ctx.max_rates:
        ctx.log(f"  calibrating {name} at {_CALIBRATION_SESSIONS} sessions (W1 did not run)")
        system = make_system(name)
        throughput(ctx, "W2-calibration", name, system, _CALIBRATION_SESSIONS, rounds=5, budget=3.0)
    return ctx.max_rates.get(key)


def ours_w1_rate(ctx: Context) -> float | None:
    """Return ours' W1 events/s at 1k sessions, measuring it briefly if W1 did not."""
    return _max_rate(ctx, "ours")


def w2_latency(ctx: Context) -> Entry:
    """W2: latency percentiles at a fixed open-loop load of half ours' W1 maximum."""
    n = _CALIBRATION_SESSIONS
    duration = 2.0 if ctx.settings.quick else 10.0
    ours_max = _max_rate(ctx, "ours") if "ours" in ctx.settings.systems else None
    if ours_max is None:
        return {"status": "skipped", "reason": "needs ours' W1 maximum at 1k sessions"}
    rate = ours_max / 2
    ctx.log(f"W2 latency: open loop at {rate:,.0f} events/s over {n} sessions, {duration:.0f} s")
    results: dict[str, Entry] = {}
    for name in ctx.pick():
        if not SYSTEMS[name].keeps_order:
            results[name] = {
                "status": "skipped",
                "reason": "no per-session order: an open loop queues a user's events, which "
                "it may run out of order (its replies would be wrong)",
            }
            ctx.log(f"  {name:10} skipped: no per-session order")
            continue
        capacity = ours_max if name == "ours" else _max_rate(ctx, name)
        if capacity is None:
            results[name] = {"status": "skipped", "reason": "no W1 maximum (it failed)"}
            continue
        if capacity < rate:
            results[name] = {
                "status": "skipped",
                "reason": f"cannot take the load: W1 max {capacity:,.0f}/s < {rate:,.0f}/s",
            }
            ctx.log(f"  {name:10} skipped: W1 max {capacity:,.0f}/s < offered")
            continue
        results[name] = latency(ctx, "W2", name, make_system(name), n, rate=rate, duration=duration)
    return {
        "sessions": n,
        "offered_per_s": rate,
        "seconds": duration,
        "gc_frozen_before_window": True,
        "sender_tick_s": 0.001,
        "results": results,
    }


def w3_memory(ctx: Context) -> Entry:
    """W3: RSS per live and per passivated session; many sessions in one process."""
    quick = ctx.settings.quick
    timeout = 120.0 if quick else 1800.0
    live_n = 10_000 if quick else 100_000
    pykka_n = 1_000 if quick else 5_000
    passive_n, passive_cap = (20_000, 1_000) if quick else (200_000, 1_000)
    million_n = 50_000 if quick else 1_000_000
    million_cap = 10_000
    out: Entry = {"live": {}, "passivated": {}, "million": {}}
    ctx.log(f"W3 memory: {live_n} live sessions per system, each in a fresh process")
    for name in ctx.pick("ours", "direct", "asyncio", "threadpool", "pykka"):
        n = pykka_n if name == "pykka" else live_n
        out["live"][name] = _memory_entry(ctx, f"W3 live {name}", {"system": name, "n": n}, timeout)
    ours_live = out["live"].get("ours", {}).get("bytes_per_session")
    if "ours" not in ctx.settings.systems:
        return out
    ctx.log(f"W3 memory: {passive_n} sessions with max_live_sessions={passive_cap}")
    task = {"system": "ours", "n": passive_n, "options": {"max_live_sessions": passive_cap}}
    passive = _memory_entry(ctx, "W3 passivated", task, timeout)
    if passive.get("status") == "ok" and ours_live is not None:
        stats = passive["stats"]
        parked = stats.get("sessions_passivated", 0)
        if parked:
            live_part = stats["sessions_live"] * ours_live
            delta = passive["rss_after"] - passive["rss_before"]
            passive["bytes_per_passivated_session"] = (delta - live_part) / parked
    out["passivated"] = passive
    ctx.log(f"W3 memory: {million_n:,} sessions with max_live_sessions={million_cap}")
    task = {"system": "ours", "n": million_n, "options": {"max_live_sessions": million_cap}}
    million = _memory_entry(ctx, "W3 million", task, timeout)
    if million.get("status") == "skipped":
        ctx.log("  passivation not available: holding every session live instead")
        million = _memory_entry(ctx, "W3 million", {"system": "ours", "n": million_n}, timeout)
        million["note"] = "passivation not available: every session live"
    if million.get("status") == "ok":
        million["estimated_rss_at_1m"] = _extrapolate(million, ours_live)
        million["measured_at_1m"] = million_n >= 1_000_000
    out["million"] = million
    return out


def _extrapolate(run: Entry, live_cost: float | None) -> float:
    """Estimate RSS at 1M sessions: the live ones stay capped; only the passivated grow."""
    n = run["sessions"]
    delta = run["rss_after"] - run["rss_before"]
    stats = run.get("stats") or {}
    parked = stats.get("sessions_passivated", 0)
    if parked and live_cost is not None:
        per_parked = max(0.0, delta - stats["sessions_live"] * live_cost) / parked
        return float(run["rss_after"] + (1_000_000 - n) * per_parked)
    return float(run["rss_before"] + delta / n * 1_000_000)


def _memory_entry(ctx: Context, where: str, task: Entry, timeout: float) -> Entry:
    result = run_child(task, timeout)
    if "unsupported" in result:
        ctx.log(f"  {where}: skipped ({result['unsupported']})")
        return {
            "status": "skipped",
            "reason": "passivation not available: " + result["unsupported"],
        }
    if "error" in result:
        ctx.failed.append(f"{where}: {result['error']}")
        ctx.log(f"  FAILED {where}: {result['error']}")
        return {"status": "FAILED", "reason": result["error"]}
    check = Check(result["sessions"], result["wrong"], tuple(filter(None, [result["example"]])))
    entry = verdict(ctx, where, result, check, None)
    if entry["status"] == "ok":
        ctx.log(
            f"  {where}: {entry['bytes_per_session']:,.0f} B/session over {entry['sessions']:,}"
            f" sessions, RSS {entry['rss_after'] / 2**20:,.0f} MiB"
        )
    return entry


def w4_blocking(ctx: Context) -> Entry:
    """W4: throughput of non-blocking events with and without 5% of events blocking 20 ms."""
    n = 1_000
    duration = 2.0 if ctx.settings.quick else 6.0
    ctx.log(f"W4 blocking: {n} users, {duration:.0f} s without, then {n} with 5% slow messages")
    results = {
        name: _blocking(ctx, name, n, duration)
        for name in ctx.pick("ours", "asyncio", "threadpool")
    }
    return {
        "sessions": n,
        "seconds_per_phase": duration,
        "block_seconds": BLOCK_SECONDS,
        "blocking_share_target": _BLOCKING_SHARE,
        "results": results,
    }


def _blocking(ctx: Context, name: str, n: int, duration: float) -> Entry:
    """Fast events/s of users whose messages never block, then of users 5% of whose do."""
    system = make_system(name, blocking=True)
    plain = Scripts(n, prefix="plain", patterns=blocking_patterns(marked=False))
    mixed = Scripts(n, prefix="mixed", patterns=blocking_patterns(marked=True))
    senders = ctx.settings.senders
    system.open(2 * n)
    runs: list[ClosedLoopResult] = []
    try:
        for scripts in (plain, mixed):  # activation, untimed
            runs.append(closed_loop(system, scripts, first_round=0, rounds=1, senders=senders))
        gc.collect()
        alone = busy_users(system, plain, first_round=1, budget=duration, senders=senders)
        gc.collect()
        both = busy_users(system, mixed, first_round=1, budget=duration, senders=senders)
        runs += [alone, both]
    finally:
        system.close()
    slow = sum(
        sum(1 for r in range(1, stop) if is_slow(mixed.text(user, r)))
        for user, stop in enumerate(both.next_rounds)
    )
    fast_alone = alone.rate
    fast_both = (both.events - slow) / both.seconds if both.seconds > 0 else 0.0
    entry: Entry = {
        "fast_per_s_alone": fast_alone,
        "fast_per_s_with_blocking": fast_both,
        "ratio": fast_both / fast_alone if fast_alone else 0.0,
        "slow_events": slow,
        "blocking_share_actual": slow / both.events if both.events else 0.0,
    }
    entry = verdict(ctx, f"W4 {name}", entry, *merge(*runs))
    if entry["status"] == "ok":
        share_text = f"{entry['blocking_share_actual']:.1%}"
        ctx.log(
            f"  {name:10} fast events/s {fast_alone:,.0f} alone, {fast_both:,.0f} with "
            f"{share_text} of events blocking: x{entry['ratio']:.2f}"
        )
    return entry


def w5_activation(ctx: Context) -> Entry:
    """W5: time per session to activate, passivate and rehydrate (ours; direct for reference)."""
    n = 10_000 if ctx.settings.quick else 100_000
    ctx.log(f"W5 activation: {n} new sessions, then passivated and rehydrated")
    results: dict[str, Entry] = {}
    for name in ctx.pick("ours", "direct"):
        results[name] = _activation(ctx, name, n)
    return {"sessions": n, "senders": ctx.settings.senders, "results": results}


def _activation(ctx: Context, name: str, n: int) -> Entry:
    system = make_system(name)
    scripts = Scripts(n)
    senders = ctx.settings.senders
    us = 1e6 / n
    system.open(n)
    runs: list[ClosedLoopResult] = []
    entry: Entry = {}
    try:
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        first = closed_loop(system, scripts, first_round=0, rounds=1, senders=senders)
        after = resource.getrusage(resource.RUSAGE_SELF)
        live = closed_loop(system, scripts, first_round=1, rounds=1, senders=senders)
        runs += [first, live]
        entry["activation_us"] = first.seconds * us
        entry["live_event_us"] = live.seconds * us
        # The whole process's, per session: threads sleeping on each other (a lock convoy
        # showed here as ~1 voluntary switch and ~25 us of system time per session).
        entry["activation_switches"] = (after.ru_nvcsw - before.ru_nvcsw) / n
        entry["activation_system_us"] = (after.ru_stime - before.ru_stime) * us
        if isinstance(system, OursSystem):
            entry.update(_rehydration(ctx, system, scripts, runs))
    finally:
        system.close()
    entry = verdict(ctx, f"W5 {name}", entry, *merge(*runs))
    if entry["status"] == "ok":
        parts = [f"{key} {value:.1f}" for key, value in entry.items() if key.endswith("_us")]
        ctx.log(f"  {name:10} per session (us): " + ", ".join(parts))
    return entry


def _rehydration(
    ctx: Context, system: OursSystem, scripts: Scripts, runs: list[ClosedLoopResult]
) -> Entry:
    runtime = system.runtime
    passivate: Callable[[str], Any] | None = getattr(runtime, "passivate", None)
    if passivate is None:
        return {"rehydration": "skipped: passivation not available (no Runtime.passivate)"}
    n = len(scripts)
    started = time.perf_counter()
    futures = [passivate(sid) for sid in scripts.ids]
    passivated = sum(bool(f.result(60)) for f in futures)
    passivate_seconds = time.perf_counter() - started
    stats_before = runtime.stats()
    again = closed_loop(system, scripts, first_round=2, rounds=1, senders=ctx.settings.senders)
    runs.append(again)
    stats_after = runtime.stats()
    rehydrated = getattr(stats_after, "rehydrations", 0) - getattr(stats_before, "rehydrations", 0)
    if passivated != n or rehydrated != n:
        again.error = again.error or (
            f"passivated {passivated} and rehydrated {rehydrated} of {n} sessions"
        )
    return {
        "passivation_us": passivate_seconds * 1e6 / n,
        "rehydration_us": again.seconds * 1e6 / n,
        "passivated": passivated,
        "rehydrated": rehydrated,
    }


WORKLOADS: dict[str, Callable[[Context], Entry]] = {
    "W1": w1_throughput,
    "W2": w2_latency,
    "W3": w3_memory,
    "W4": w4_blocking,
    "W5": w5_activation,
    "W6": w6_durability,
    "W8": w8_web,
}
