"""The schedule mode: every user on a thread, interleaved inside turns by the line scheduler.

Each *schedule* runs all users' scripts together on a fresh copy of the bot, one thread per
user (its turns in order, as its session actor would run them), under a
:class:`~runtime.testing._scheduler.LineScheduler`: control passes between users only at lines
of the bot's own code and before each turn, as a seeded strategy decides. So a race inside one
turn (a global written, a call, the global read back) is found and replayed exactly, like a
race between turns. Schedule ``i`` of seed ``s`` always takes the same interleaving.

Schedules alternate two strategies: PCT with depth 2, 3 and 4 (few, well-placed switches:
bugs that need a few orderings), and a random walk switching at about two yield points per
turn (many switches: bugs that need a switch at one precise line).
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from runtime.testing._scheduler import PCT, LineScheduler, RandomWalk, Run, Strategy
from runtime.testing._scripts import Scripts
from runtime.testing._simulation import Simulation
from runtime.testing._transcript import Transcript

__all__ = ["DEFAULT_SCHEDULES", "ScheduleRun", "bot_code_files", "run_schedule", "strategy_for"]

DEFAULT_SCHEDULES = 40
"""Schedules tried per seed by default (each is a whole run of every script)."""

_LINES_PER_TURN_GUESS = 12  # before the first schedule has measured it


def bot_code_files(spec: str) -> frozenset[str]:
    """The files whose lines are yield points: the bot's module and the ``.py`` files beside it.

    Raises:
        ValueError: ``spec`` names no file (a built-in or namespace module).
    """
    if os.path.isfile(spec):
        path = os.path.realpath(spec)
    else:
        found = importlib.util.find_spec(spec)
        if found is None or found.origin is None or not os.path.isfile(found.origin):
            raise ValueError(f"bot {spec!r} has no source file to schedule")
        path = os.path.realpath(found.origin)
    folder = os.path.dirname(path)
    files = {path}
    for name in os.listdir(folder):
        if name.endswith(".py"):
            files.add(os.path.join(folder, name))
            files.add(os.path.realpath(os.path.join(folder, name)))
    return frozenset(files)


def strategy_for(seed: int, index: int, users: list[str], steps: int) -> tuple[Strategy, str]:
    """Return schedule ``index``'s strategy for ``seed`` and a short description of it."""
    rng = random.Random(f"runtime.testing.schedule:{seed}:{index}")
    if index % 2 == 0:
        depth = 2 + (index // 2) % 3
        return PCT(rng, users, depth, steps), f"PCT depth {depth}"
    turns = max(1, steps // _LINES_PER_TURN_GUESS)
    switch = min(0.5, 2.0 * turns / max(steps, 1))
    return RandomWalk(rng, switch), f"random walk p={switch:.2f}"


@dataclass(frozen=True)
class ScheduleRun:
    """One schedule's outcome."""

    index: int
    strategy: str
    transcripts: dict[str, Transcript]
    run: Run
    seconds: float

    def describe(self, shown: int = 8) -> str:
        """The schedule as the lines where control switched (the first ``shown``)."""
        switches = self.run.switches
        head = f"schedule {self.index} ({self.strategy}), {len(switches)} switch(es)"
        if not switches:
            return head
        listed = "; ".join(str(s) for s in switches[:shown])
        more = f"; ... {len(switches) - shown} more" if len(switches) > shown else ""
        return f"{head}: {listed}{more}"


def run_schedule(
    load: Callable[[], object],
    files: frozenset[str],
    scripts: Scripts,
    *,
    seed: int,
    index: int,
    expected_steps: int,
) -> ScheduleRun:
    """Run every script together on a fresh bot under schedule ``index`` of ``seed``.

    Args:
        load: returns a fresh copy of the bot.
        files: the bot's code files (yield points).
        scripts: each user's steps.
        seed: the check's seed.
        index: which schedule.
        expected_steps: yield points a run is expected to reach (PCT's change point range).
    """
    began = time.perf_counter()
    simulation = Simulation(load())  # type: ignore[arg-type]
    users = [user for user, script in scripts.items() if script]
    strategy, description = strategy_for(seed, index, users, expected_steps)
    scheduler = LineScheduler(files, strategy)
    transcripts = {user: Transcript(user) for user in scripts}

    def task(user: str) -> Callable[[], None]:
        def run_script() -> None:
            for number, step in enumerate(scripts[user]):
                scheduler.checkpoint(f"{user} step {number}")
                transcripts[user].steps.append(simulation.send(user, step))

        return run_script

    run = scheduler.run({user: task(user) for user in users})
    for user, transcript in transcripts.items():
        transcript.data = simulation.data(user)
    return ScheduleRun(index, description, transcripts, run, time.perf_counter() - began)
