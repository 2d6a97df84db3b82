"""The isolation report: divergences, a summary table per mode, and commands that replay them."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.testing._scripts import Scripts, dump_scripts

__all__ = ["Divergence", "IsolationReport", "Mode", "ModeResult", "data_lines", "replay_command"]

Mode = Literal["simulate", "load"]


@dataclass(frozen=True)
class Divergence:
    """A user whose conversation under other users' traffic differs from the one alone.

    Attributes:
        mode: ``"simulate"`` or ``"load"``.
        user: the session id.
        step: the index of the first step whose replies differ in the user's script, or None
            when every reply matched and the final session data differs.
        sent: the step as sent (``describe()``), or ``"(end of script)"`` for the data.
        expected: the replies (or ``key = value`` lines of the data) when the user was alone.
        actual: the same, with the other users active.
        replay: a shell command that replays the run.
        detail: other differences (an error, body errors) and context, one per line, or ''.
        schedule: the simulation's schedule that showed it (None in the load mode).
    """

    mode: Mode
    user: str
    step: int | None
    sent: str
    expected: tuple[str, ...]
    actual: tuple[str, ...]
    replay: str
    detail: str = ""
    schedule: int | None = None

    def format(self) -> str:
        """Return the divergence as a few readable lines."""
        where = "final session data" if self.step is None else f"step {self.step}"
        lines = [
            f"{self.user}, {where} ({self.mode}): sent {self.sent}",
            f"    alone:    {_show(self.expected)}",
            f"    together: {_show(self.actual)}",
        ]
        lines += [f"    note:     {note}" for note in self.detail.splitlines()]
        lines.append(f"    replay:   {self.replay}")
        return "\n".join(lines)


def _show(lines: tuple[str, ...]) -> str:
    return "(nothing)" if not lines else json.dumps(list(lines), ensure_ascii=False)


@dataclass(frozen=True)
class ModeResult:
    """How one mode went.

    Attributes:
        mode: ``"simulate"`` or ``"load"``.
        users: users in the run.
        events: steps sent.
        seconds: wall time of the mode (solo runs not included).
        divergences: what differed from the solo runs.
        runs: how many schedules ran (the simulation stops at the first that diverges).
    """

    mode: Mode
    users: int
    events: int
    seconds: float
    divergences: tuple[Divergence, ...]
    runs: int = 1

    @property
    def events_per_second(self) -> float:
        """Events handled per second of the mode's runs (every schedule counted)."""
        return self.events * self.runs / self.seconds if self.seconds > 0 else float("inf")

    @property
    def runs_per_second(self) -> float:
        """Schedules (whole runs of every script) per second."""
        return self.runs / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class IsolationReport:
    """Whether each user's conversation is the same with others active as alone.

    Attributes:
        bot: the bot as given (path or module name).
        seed: the seed of the scripts and of both modes.
        results: one per mode run, in the order run.
        scripts: each user's script.
        generated: whether the scripts were generated from the seed (else given).
        scripts_file: the file the given scripts came from, if any.
        solo_seconds: wall time of the solo runs.
        hints: what could not be checked and why (values that compare by identity only).
    """

    bot: str
    seed: int
    results: tuple[ModeResult, ...]
    scripts: Scripts = field(repr=False)
    generated: bool = True
    scripts_file: str | None = None
    solo_seconds: float = 0.0
    hints: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        """True when no mode found a divergence."""
        return not self.divergences

    @property
    def divergences(self) -> tuple[Divergence, ...]:
        """Every divergence of every mode."""
        return tuple(d for result in self.results for d in result.divergences)

    def summary_table(self) -> str:
        """Return a table: mode, users, events, events/s, schedules, schedules/s, divergences."""
        header = ("mode", "users", "events", "events/s", "schedules", "schedules/s", "divergences")
        rows = [
            (
                r.mode,
                str(r.users),
                str(r.events),
                f"{r.events_per_second:,.0f}",
                str(r.runs),
                f"{r.runs_per_second:,.1f}",
                str(len(r.divergences)),
            )
            for r in self.results
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest])

        return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])

    def format(self) -> str:
        """Return the whole report: what ran, the table, then every divergence."""
        users = len(self.scripts)
        steps = sum(len(script) for script in self.scripts.values())
        lines = [
            f"check-isolation {self.bot}: seed {self.seed}, {users} users, {steps} events",
            "",
            self.summary_table(),
            "",
        ]
        for hint in self.hints:
            lines.append(f"note: {hint}")
        if self.hints:
            lines.append("")
        if self.isolated:
            lines.append("isolated: every user saw alone what they saw together")
            return "\n".join(lines)
        count = len(self.divergences)
        lines.append(f"NOT ISOLATED: {count} divergence{'s' if count != 1 else ''}")
        for divergence in self.divergences:
            lines += ["", divergence.format()]
        if not self.generated and self.scripts_file is None:
            lines += [
                "",
                "The replay commands read the scripts from SCRIPTS.json; save these there:",
                dump_scripts(self.scripts),
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def replay_command(
    bot: str,
    *,
    mode: Mode,
    seed: int,
    users: int,
    messages: int,
    concurrency: int | None = None,
    scripts_file: str | None = None,
    ignore_keys: Sequence[str] = (),
    schedule: int | None = None,
) -> str:
    """Return the ``python -m runtime check-isolation`` command that replays a run.

    Args:
        bot: the bot as given on the command line.
        mode: the mode that diverged.
        seed: the run's seed.
        users: generated users (ignored when ``scripts_file`` is given).
        messages: generated steps per user (ignored when ``scripts_file`` is given).
        concurrency: sender threads (load mode only).
        scripts_file: the scripts file, ``"SCRIPTS.json"`` for scripts given in Python.
        ignore_keys: data keys the run ignored.
        schedule: the simulation's schedule that diverged (replayed alone).
    """
    words = ["python", "-m", "runtime", "check-isolation", bot, "--seed", str(seed)]
    if scripts_file is None:
        words += ["--users", str(users), "--messages", str(messages)]
    else:
        words += ["--scripts", scripts_file]
    words += ["--mode", mode]
    if mode == "simulate" and schedule is not None:
        words += ["--schedule", str(schedule)]
    if mode == "load" and concurrency is not None:
        words += ["--concurrency", str(concurrency)]
    for key in ignore_keys:
        words += ["--ignore-key", key]
    return shlex.join(words)


def data_lines(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Return session data as sorted ``key = value`` lines for a report."""
    return tuple(f"{key} = {data[key]!r}" for key in sorted(data))
