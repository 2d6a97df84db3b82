"""Shrink a divergence to the fewest users, steps and switches that still show it.

Greedy, in the spirit of delta debugging: drop whole users while the case still diverges, then
each user's steps (halves first, then one at a time, the last ones first: earlier steps set up
the state later ones need), then pick, among the first schedules that diverge on what is
left, the one with the fewest switches. Each try is a full simulation check of the candidate
scripts (fresh processes, every solo run included), so what comes out replays as printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from runtime.testing._oracle import check_isolation
from runtime.testing._report import Divergence, IsolationReport, replay_command
from runtime.testing._scripts import Scripts, dump_scripts

__all__ = ["SHRINK_SCHEDULES", "Shrunk", "shrink"]

SHRINK_SCHEDULES = 12
"""Schedules tried per candidate: a smaller case takes other interleavings to show a race."""

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Shrunk:
    """The smallest case found: its scripts, the schedule that shows it, and the cost."""

    bot: str
    seed: int
    scripts: Scripts
    schedule: int
    switches: int
    divergence: Divergence
    checks: int
    seconds: float
    ignore_keys: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        """Steps left in all."""
        return sum(len(script) for script in self.scripts.values())

    def replay(self, scripts_file: str = "SHRUNK.json") -> str:
        """The command that replays the shrunk case, its scripts saved as ``scripts_file``."""
        return replay_command(
            self.bot,
            mode="simulate",
            seed=self.seed,
            users=len(self.scripts),
            messages=0,
            scripts_file=scripts_file,
            ignore_keys=self.ignore_keys,
            schedule=self.schedule,
        )

    def format(self) -> str:
        """The shrunk case for the report: size, scripts as JSON, replay command."""
        users = len(self.scripts)
        return "\n".join(
            [
                f"Shrunk in {self.seconds:.1f} s ({self.checks} checks) to {users} "
                f"user{'s' if users != 1 else ''}, {self.steps} step"
                f"{'s' if self.steps != 1 else ''}, schedule {self.schedule} "
                f"({self.switches} switch{'es' if self.switches != 1 else ''}):",
                self.divergence.format().replace(self.divergence.replay, self.replay()),
                "Save these scripts as SHRUNK.json to replay it:",
                dump_scripts(self.scripts),
            ]
        )


def shrink(
    report: IsolationReport,
    *,
    ignore_keys: tuple[str, ...] = (),
    progress: Progress | None = None,
    log_level: int | None = None,
) -> Shrunk | None:
    """Shrink the report's first simulation divergence (None: the simulation found none).

    ``log_level`` is ``check_isolation``'s, for the checks of the candidates.
    """
    first = next((d for d in report.divergences if d.mode == "simulate"), None)
    if first is None:
        return None
    tries = _Tries(report, ignore_keys, progress, log_level)
    scripts: Scripts = {user: list(steps) for user, steps in report.scripts.items() if steps}
    if tries.diverging(scripts) is None:  # not on the first schedules: keep the case whole
        return tries.result(scripts, first.schedule or 0, first)
    for user in list(scripts):  # fewer users
        if len(scripts) > 1:
            candidate = {u: steps for u, steps in scripts.items() if u != user}
            if tries.diverging(candidate) is not None:
                scripts = candidate
    for user in list(scripts):  # fewer steps: halves, then single steps from the end
        chunk = max(1, len(scripts[user]) // 2)
        while chunk >= 1:
            position = len(scripts[user]) - chunk
            while position >= 0 and len(scripts[user]) > 1:
                steps = list(scripts[user])
                candidate = {**scripts, user: steps[:position] + steps[position + chunk :]}
                if candidate[user] and tries.diverging(candidate) is not None:
                    scripts = candidate
                position -= chunk
            chunk //= 2
    return tries.fewest_switches(scripts)


class _Tries:
    """Runs the candidate checks and counts them."""

    def __init__(
        self,
        report: IsolationReport,
        ignore_keys: tuple[str, ...],
        progress: Progress | None,
        log_level: int | None,
    ) -> None:
        self.report = report
        self.log_level = log_level
        self.ignore_keys = ignore_keys
        self.progress = progress
        self.checks = 0
        self.began = time.perf_counter()

    def check(self, scripts: Scripts, **options: int) -> IsolationReport:
        self.checks += 1
        if self.progress is not None:
            self.progress(self.checks)
        return check_isolation(
            self.report.bot,
            scripts=scripts,
            seed=self.report.seed,
            mode="simulate",
            ignore_keys=self.ignore_keys,
            log_level=self.log_level,
            **options,  # type: ignore[arg-type]
        )

    def diverging(self, scripts: Scripts) -> IsolationReport | None:
        found = self.check(scripts, schedules=SHRINK_SCHEDULES)
        return None if found.isolated else found

    def fewest_switches(self, scripts: Scripts) -> Shrunk:
        """Among the first schedules that diverge on ``scripts``, the one with fewest switches."""
        best: tuple[int, int, Divergence] | None = None
        for index in range(SHRINK_SCHEDULES):
            found = self.check(scripts, schedule=index)
            if not found.isolated:
                divergence = found.divergences[0]
                if best is None or _switches(divergence) < best[1]:
                    best = (index, _switches(divergence), divergence)
        assert best is not None, "the shrunk scripts diverged on one of these schedules"
        return self.result(scripts, best[0], best[2])

    def result(self, scripts: Scripts, schedule: int, divergence: Divergence) -> Shrunk:
        return Shrunk(
            self.report.bot,
            self.report.seed,
            scripts,
            schedule,
            _switches(divergence),
            divergence,
            self.checks,
            time.perf_counter() - self.began,
            self.ignore_keys,
        )


def _switches(divergence: Divergence) -> int:
    """The number of switches the divergence's schedule made (0 for whole turns)."""
    for line in divergence.detail.splitlines():
        head, _, rest = line.partition(" switch(es)")
        if rest and "), " in head:
            return int(head.rsplit("), ", 1)[1])
    return 0
