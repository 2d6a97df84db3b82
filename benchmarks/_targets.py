"""The targets of issues #4 and #12 (and W6's), evaluated on a run's numbers; machine info."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["machine_info", "ratio", "targets"]

Entry = dict[str, Any]
_GIB = 2**30


def machine_info() -> Entry:
    """Return what the numbers depend on: cores, versions, load, date, commit."""
    info: Entry = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "switch_interval_s": sys.getswitchinterval(),
        "sqlite_version": sqlite3.sqlite_version,
    }
    for package in ("pykka", "runtime", "structlog", "redis"):
        try:
            info[f"{package}_version"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[f"{package}_version"] = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            info["memory_total_kib"] = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        info["memory_total_kib"] = None
    try:  # read-only: which commit the working tree is based on (it may have local edits)
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _get(data: Entry, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _rate(workloads: Entry, n: int, system: str) -> float | None:
    entry = _get(workloads, "W1", "results", str(n), system)
    return entry["events_per_s"] if entry and entry.get("status") == "ok" else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(workloads: Entry) -> list[Entry]:
    """Evaluate the targets of issues #4 and #12 on whatever the run measured."""
    found: list[Entry] = []

    def add(
        name: str,
        value: float | None,
        op: str,
        goal: float,
        unit: str,
        *,
        note: str = "",
        missed: bool = False,
    ) -> None:
        if value is None or math.isnan(value):
            # missed: not measured because the system could not even be loaded that far.
            status, margin = "MISS" if missed else "n/a", None
        else:
            better = value >= goal if op == ">=" else value <= goal
            status = "PASS" if better else "MISS"
            margin = value / goal - 1 if op == ">=" else goal / value - 1 if value else None
        found.append(
            {
                "target": name,
                "value": value,
                "op": op,
                "goal": goal,
                "unit": unit,
                "status": status + (" (est.)" if note == "est." and status != "n/a" else ""),
                "margin": margin,
                "note": note,
            }
        )

    _w1_targets(workloads, add)
    add(
        "W1 ours events/s at 100k vs at 100 sessions",
        ratio(_rate(workloads, 100_000, "ours"), _rate(workloads, 100, "ours")),
        ">=",
        0.8,
        "x",
        note="" if _get(workloads, "W1", "results", "100000") else "needs the full run",
    )
    add(
        "W1 ours events/s vs pykka actor/session, 1k sessions",
        ratio(_rate(workloads, 1_000, "ours"), _rate(workloads, 1_000, "pykka")),
        ">=",
        10.0,
        "x",
    )
    million = _get(workloads, "W3", "million") or {}
    rss: float | None = None
    note = ""
    if million.get("status") == "ok":
        if million.get("measured_at_1m"):
            rss = million["rss_after"] / _GIB
        else:
            rss, note = million["estimated_rss_at_1m"] / _GIB, "est."
    add("W3 RSS holding 1M sessions", rss, "<=", 4.0, "GiB", note=note)
    w4 = _get(workloads, "W4", "results", "ours") or {}
    add(
        "W4 ours non-blocking throughput kept with 5% blocking",
        w4.get("ratio") if w4.get("status") == "ok" else None,
        ">=",
        0.7,
        "x",
    )
    w2 = _get(workloads, "W2", "results", "ours") or {}
    p99_p50 = ratio(w2.get("p99_ms"), w2.get("p50_ms")) if w2.get("status") == "ok" else None
    add("W2 ours p99 / p50 at half load", p99_p50, "<=", 20.0, "x")
    direct_w2 = _get(workloads, "W2", "results", "direct") or {}
    add(
        "W2 ours p99 vs the direct loop's p99, same offered load",
        ratio(_ok(w2, "p99_ms"), _ok(direct_w2, "p99_ms")),
        "<=",
        2.0,
        "x",
    )
    w5 = _get(workloads, "W5", "results") or {}
    add(
        "W5 ours activation vs the direct loop's first message",
        ratio(_ok(w5.get("ours"), "activation_us"), _ok(w5.get("direct"), "activation_us")),
        "<=",
        3.0,
        "x",
    )
    _w6_targets(workloads.get("W6") or {}, add)
    _w8_targets(workloads.get("W8") or {}, add)
    return found


#: W1 (issue #12): ours' events/s over each baseline's, at least, at every size measured.
W1_RATIO_GOALS = {"direct": 0.6, "threadpool": 1.2, "asyncio": 1.2}
W1_SIZES = (100, 1_000, 10_000, 100_000)


def _w1_targets(workloads: Entry, add: Callable[..., None]) -> None:
    """Add W1's ratio targets: ours against each baseline at each size."""
    for baseline, goal in W1_RATIO_GOALS.items():
        for n in W1_SIZES:
            measured = _get(workloads, "W1", "results", str(n))
            note = "" if measured else "needs the full run"
            if baseline == "direct":
                floor = ratio(_rate(workloads, n, "handoff"), _rate(workloads, n, "direct"))
                if floor is not None:
                    note = f"the hand-off floor alone: {floor:.2f} x"
            add(
                f"W1 ours events/s vs {baseline}, {n:,} sessions",
                ratio(_rate(workloads, n, "ours"), _rate(workloads, n, baseline)),
                ">=",
                goal,
                "x",
                note=note,
            )


#: W6: each durable store's events/s as a share of the memory store's, at least.
W6_RATIO_GOALS = {"ours+sqlite": 0.5, "ours+redis": 0.3}
#: W6: p99 latency (ms) of each durable store at half the memory store's events/s, at most.
W6_P99_GOAL_MS = 20.0


def _w6_targets(w6: Entry, add: Callable[..., None]) -> None:
    """Add W6's targets: each durable store's events/s ratio per size, and its p99."""
    not_run = w6.get("reason", "W6 not run") if "results" not in w6 else ""
    sizes = list(w6.get("results") or ["1000"])
    for label, goal in W6_RATIO_GOALS.items():
        for n in sizes:
            row = _get(w6, "results", n) or {}
            value = ratio(
                _ok(row.get(label), "events_per_s"), _ok(row.get("ours+memory"), "events_per_s")
            )
            name = f"W6 {label} events/s vs ours+memory, {int(n):,} sessions"
            add(name, value, ">=", goal, "x", note=not_run or _skip_note(row.get(label)))
    for label in W6_RATIO_GOALS:
        entry = _get(w6, "latency", "results", label) or {}
        add(
            f"W6 {label} p99 at half ours+memory's events/s",
            _ok(entry, "p99_ms"),
            "<=",
            W6_P99_GOAL_MS,
            "ms",
            note=not_run or _skip_note(entry),
            missed=bool(entry.get("overloaded")),
        )


def _skip_note(entry: Entry | None) -> str:
    if entry and entry.get("status") == "skipped":
        return f"SKIPPED: {entry.get('reason')}"
    return ""


def _ok(entry: Entry | None, key: str) -> float | None:
    return entry.get(key) if entry and entry.get("status") == "ok" else None


#: W8: messages/s through the gateway, 1k WebSocket clients, clients and server on one machine.
W8_RATE_GOAL = 10_000.0
#: W8: p99 latency (ms) at half the full run's messages/s, at most.
W8_P99_GOAL_MS = 100.0


def _w8_targets(w8: Entry, add: Callable[..., None]) -> None:
    """Add W8's targets: messages/s, p99 at half load, nothing lost or crossed."""
    not_run = "" if "full" in w8 else w8.get("reason", "W8 not run")
    full = w8.get("full") or {}
    half = w8.get("half") or {}
    add(
        "W8 web messages/s, 1k WebSocket clients, server + clients on this machine",
        _ok(full, "messages_per_s"),
        ">=",
        W8_RATE_GOAL,
        "msg/s",
        note=not_run or _skip_note(full),
    )
    add(
        "W8 web p99 at half the full load's messages/s",
        (_ok(half, "latency_ms") or {}).get("p99"),
        "<=",
        W8_P99_GOAL_MS,
        "ms",
        note=not_run or _skip_note(half),
    )
    runs = [run for run in (full, half) if "lost" in run]
    add(
        "W8 web messages lost or crossed (both runs)",
        float(sum(run["lost"] + run["crossed"] for run in runs)) if runs else None,
        "<=",
        0.0,
        "msgs",
        note=not_run or ("" if runs else "FAILED before counting"),
    )
