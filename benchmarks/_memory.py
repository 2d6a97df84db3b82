"""RSS readings, and the fresh subprocesses memory measurements run in.

Each measurement runs in its own ``python -m benchmarks._memory TASK_JSON`` process, so what
earlier workloads allocated (and the allocator kept) does not count. The child opens ``n``
sessions of one system in batches (first message each, replies checked against the oracle),
and prints one JSON line: RSS before and after, peak RSS, time taken and, for ours, the
runtime's stats.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["peak_rss_bytes", "rss_bytes", "run_child"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_ROOT = Path(__file__).resolve().parent.parent
_BATCH = 10_000
_WARM = 200


def rss_bytes() -> int:
    """Return this process's resident set size now, in bytes."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:  # not Linux: the peak is the best we have
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Return this process's peak resident set size so far, in bytes."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * (1 if sys.platform == "darwin" else 1024)


def run_child(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it printed.

    Returns:
        The child's result, or ``{"error": ...}`` if it failed or timed out.
    """
    command = [sys.executable, "-m", "benchmarks._memory", json.dumps(task)]
    try:
        done = subprocess.run(
            command, cwd=_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _open_sessions(task: dict[str, Any]) -> dict[str, Any]:
    """Open ``n`` sessions of one system; measure RSS before and after (in the child)."""
    from benchmarks._scripts import Scripts  # noqa: PLC0415 - children import lazily
    from benchmarks._systems import OursSystem, make_system  # noqa: PLC0415

    n: int = task["n"]
    options: dict[str, Any] = task.get("options", {})
    try:
        system = make_system(task["system"], **options)
    except TypeError as exc:  # a Runtime option this version does not have
        return {"unsupported": f"{type(exc).__name__}: {exc}"}
    system.open(n + _WARM)
    # Warm-up with other ids: imports, caches and thread stacks are not per-session costs.
    warm = [f"warm{i}" for i in range(_WARM)]
    system.wait([system.submit(sid, "hi") for sid in warm])
    scripts = Scripts(0, prefix="s")
    gc.collect()
    time.sleep(0.2)
    before = rss_bytes()
    started = time.perf_counter()
    wrong = 0
    example = None
    for low in range(0, n, _BATCH):
        users = range(low, min(n, low + _BATCH))
        handles = [system.submit(f"s{u}", scripts.text(u, 0)) for u in users]
        for user, replies in zip(users, system.wait(handles), strict=True):
            if replies != scripts.expected(user, 0, 1)[0]:
                wrong += 1
                example = example or f"s{user}: got {replies!r}"
    elapsed = time.perf_counter() - started
    stats: dict[str, Any] | None = None
    limit = options.get("max_live_sessions")
    if isinstance(system, OursSystem):
        runtime = system.runtime
        deadline = time.monotonic() + 30
        # Let the sweeper finish passivating down to the cap before measuring.
        while limit is not None and runtime.stats().sessions_live > limit:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        stats = dataclasses.asdict(runtime.stats())
    gc.collect()
    time.sleep(0.2)
    after = rss_bytes()
    system.close()
    return {
        "system": task["system"],
        "sessions": n,
        "options": options,
        "rss_before": before,
        "rss_after": after,
        "peak_rss": peak_rss_bytes(),
        "bytes_per_session": (after - before) / n,
        "seconds": elapsed,
        "wrong": wrong,
        "example": example,
        "stats": stats,
    }


def main(argv: list[str]) -> int:
    """Run the task given as JSON in ``argv[1]``; print its result as one JSON line."""
    task = json.loads(argv[1])
    result = _open_sessions(task)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
