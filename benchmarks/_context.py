"""What the workloads of one run share: settings, progress, failures and verdicts."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks._load import ClosedLoopResult
from benchmarks._scripts import Check

__all__ = ["Context", "Entry", "Settings", "merge", "verdict"]

Entry = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What the command line asked for."""

    quick: bool
    systems: tuple[str, ...]
    senders: int = 4


@dataclass
class Context:
    """Shared by the workloads of one invocation: settings, progress, W1's measured maxima."""

    settings: Settings
    started: float = field(default_factory=time.perf_counter)
    max_rates: dict[tuple[str, int], float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Print a progress line on stderr."""
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def pick(self, *names: str) -> list[str]:
        """Return the selected systems among ``names`` (all selected when none given)."""
        wanted = names or self.settings.systems
        return [name for name in wanted if name in self.settings.systems]


def _check_entry(check: Check | None) -> Entry:
    if check is None:
        return {"events": 0, "wrong": 0, "examples": []}
    return {"events": check.events, "wrong": check.wrong, "examples": list(check.examples)}


def verdict(
    ctx: Context, where: str, entry: Entry, check: Check | None, error: str | None
) -> Entry:
    """Mark ``entry`` FAILED (dropping its numbers) if the run erred or replied wrongly."""
    entry["check"] = _check_entry(check)
    if error is not None or (check is not None and not check.ok):
        why = error or f"{check.wrong if check else '?'} wrong replies"
        ctx.failed.append(f"{where}: {why}")
        ctx.log(f"  FAILED {where}: {why}")
        return {"status": "FAILED", "reason": why, "check": entry["check"]}
    entry["status"] = "ok"
    return entry


def merge(*results: ClosedLoopResult) -> tuple[Check | None, str | None]:
    check: Check | None = None
    error: str | None = None
    for result in results:
        if result.check is not None:
            check = result.check if check is None else check.merged(result.check)
        error = error or result.error
    return check, error
