"""Runs in fresh processes: every module, the environment and the global random start clean.

A fresh copy of the bot module resets the bot's own globals, not ``os.environ``, the modules it
imports, class attributes of its helpers or the global ``random``: a solo run in the checking
process would inherit what the previous run left there. So every solo run, every schedule of
the simulation and the load run happen in a process of their own, forked from a *fork server*
(``multiprocessing``'s ``forkserver``): a clean interpreter that imported the runtime once and
forks a child per run. Measured on the project's 2-core machine, loading the greetings bot in
the child: fork from the checking process 21 ms per run, forkserver 26 ms (plus 0.5 s once to
start it), spawn 570 ms. The fork server costs about fork's price without fork's hazards (the
checking process has threads: progress bars, a Runtime) and starts every child from the same
clean state, whatever the checking process did before.

In the child the global ``random`` is seeded from the check's seed, so runs are reproducible.
A solo run also records what the bot changed *outside its session* during its turns: the
environment, the globals of the modules beside it (and their classes' attributes), the global
random generator. Such state is shared by every user of a real server: the report says so.

What comes back must cross a process boundary: session data is turned into its structural
stand-in (with its ``repr`` kept for the report) in the child, where the bot's classes live.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

from runtime._loader import load_bot
from runtime.testing import _cooperative as cooperative
from runtime.testing._interleave import bot_code_files, run_schedule
from runtime.testing._load import run_load
from runtime.testing._scripts import Scripts, Step
from runtime.testing._simulation import Simulation, seeded_chooser
from runtime.testing._structural import Converted, structural
from runtime.testing._transcript import Transcript

__all__ = [
    "fresh_pool",
    "hazards_of",
    "load_run",
    "portable",
    "schedule_run",
    "seed_global_random",
    "solo_run",
    "whole_turns_run",
]

_T = TypeVar("_T")

_BOT_COPY_PREFIX = "_runtime_bot_"


def portable(transcripts: dict[str, Transcript]) -> dict[str, Transcript]:
    """Transcripts whose data can be pickled to the parent (each value :class:`Converted`)."""
    for transcript in transcripts.values():
        transcript.data = {key: Converted(value) for key, value in transcript.data.items()}
    return transcripts


def seed_global_random(seed: int) -> None:
    """Start the child's global ``random`` the same way in every run of a check, and make the
    bot's locks cooperative (``runtime.testing._cooperative``)."""
    random.seed(f"runtime.testing.global-random:{seed}")
    if multiprocessing.parent_process() is not None:  # a fresh process: ours to change
        cooperative.install()


# -- process-wide state -----------------------------------------------------------------------


def _helper_modules(folder: str) -> Iterator[ModuleType]:
    """The modules loaded from the bot's folder, except the bot's own copies."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (
            isinstance(path, str)
            and os.path.dirname(os.path.realpath(path)) == folder
            and not name.startswith(_BOT_COPY_PREFIX)
        ):
            yield module


def _state_of(module: ModuleType) -> dict[str, Any]:
    """A module's data: its globals and its classes' attributes, minus code and modules."""
    found: dict[str, Any] = {}
    for name, value in vars(module).items():
        if name.startswith("__") or isinstance(value, ModuleType) or callable(value):
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attribute, member in vars(value).items():
                    if not attribute.startswith("__") and not callable(member):
                        found[f"{name}.{attribute}"] = member
            continue
        found[name] = value
    return found


def _snapshot(folder: str) -> dict[str, Any]:
    state: dict[str, Any] = {"environ": dict(os.environ), "random": random.getstate()}
    for module in _helper_modules(folder):
        for name, value in _state_of(module).items():
            try:
                state[f"{module.__name__}.{name}"] = structural(value)
            except RecursionError:
                continue
    return state


def hazards_of(folder: str, run: Callable[[], _T]) -> tuple[_T, list[str]]:
    """Call ``run`` and say what process-wide state it changed (environment, helper modules'
    globals, the global random generator)."""
    before = _snapshot(folder)
    result = run()
    after = _snapshot(folder)
    hazards = []
    environ_before, environ_after = before.pop("environ"), after.pop("environ")
    for key in sorted(set(environ_before) | set(environ_after)):
        if environ_before.get(key) != environ_after.get(key):
            hazards.append(f"changes os.environ[{key!r}]")
    if before.pop("random") != after.pop("random"):
        hazards.append("draws from the global random generator")
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            hazards.append(f"changes {key}")
    return result, hazards


# -- the fork server --------------------------------------------------------------------------

_lock = threading.Lock()


@contextmanager
def fresh_pool(
    workers: int = 2, log_level: int | None = None
) -> Iterator[Callable[..., Future[Any]]]:
    """Yield ``submit(fn, *args)``: run ``fn(*args)`` in a brand-new process, forked from a
    clean fork server (``fn`` must be a module-level function; results are pickled).

    Args:
        workers: processes at once.
        log_level: configure the children's logging as the command line does, from this
            level (None: leave it as a new process has it).
    """
    with _lock:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["runtime.testing"])
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        max_tasks_per_child=1,
        initializer=_start_child,
        initargs=(log_level,),
    ) as pool:
        yield pool.submit


def _start_child(log_level: int | None) -> None:
    if log_level is not None:
        from runtime.log import configure_cli_logging  # noqa: PLC0415

        configure_cli_logging(log_level)


# -- what the children run (module level: the fork server pickles them by name) ---------------


def _folder(spec: str) -> str:
    return os.path.dirname(min(bot_code_files(spec), key=len))


def solo_run(
    spec: str, user: str, steps: list[Step], seed: int, measure: bool = True
) -> tuple[Transcript, list[str], int]:
    """One user alone on a fresh bot: the transcript, the process-wide state its turns
    changed, and how many yield points (lines of the bot's code) the turns reached.

    ``measure=False`` skips the last two (no tracing, no snapshots: what the quick in-process
    runs of a Hypothesis property test want); they come back empty and 0.
    """
    from runtime.testing._scheduler import PCT, LineScheduler  # noqa: PLC0415

    seed_global_random(seed)
    simulation = Simulation(load_bot(spec, fresh=True))
    if not measure:
        return portable(simulation.run({user: steps}))[user], [], 0
    counter = LineScheduler(bot_code_files(spec), PCT(random.Random(0), [user], 1, 1))
    transcript = Transcript(user)

    def run() -> None:
        for step in steps:
            transcript.steps.append(simulation.send(user, step))

    ran, hazards = hazards_of(_folder(spec), lambda: counter.run({user: run}))
    if ran.errors:
        raise RuntimeError(f"the solo run of {user} failed: {ran.errors[user]!r}")
    transcript.data = simulation.data(user)
    return portable({user: transcript})[user], hazards, ran.steps


def whole_turns_run(
    spec: str, scripts: Scripts, seed: int
) -> tuple[dict[str, Transcript], list[tuple[str, int]]]:
    """Schedule 0: whole turns on one thread, in the seed's order."""
    seed_global_random(seed)
    simulation = Simulation(load_bot(spec, fresh=True))
    transcripts = simulation.run(scripts, seeded_chooser(seed))
    return portable(transcripts), simulation.schedule


def schedule_run(
    spec: str, scripts: Scripts, seed: int, index: int, expected_steps: int
) -> tuple[dict[str, Transcript], str, list[str]]:
    """Schedule ``index`` (1 and up): the transcripts, the schedule described, and where a
    thread blocked past the timeout."""
    seed_global_random(seed)
    ran = run_schedule(
        lambda: load_bot(spec, fresh=True),
        bot_code_files(spec),
        scripts,
        seed=seed,
        index=index,
        expected_steps=expected_steps,
    )
    if ran.run.errors:
        user, error = next(iter(ran.run.errors.items()))
        raise RuntimeError(f"the scheduled run of {user} failed: {error!r}")
    return portable(ran.transcripts), ran.describe(), list(ran.run.blocked)


def load_run(
    spec: str, scripts: Scripts, seed: int, concurrency: int
) -> tuple[dict[str, Transcript], float]:
    """The load mode: a real Runtime, sender threads, jitter."""
    seed_global_random(seed)
    run = run_load(load_bot(spec, fresh=True), scripts, seed=seed, concurrency=concurrency)
    return portable(run.transcripts), run.seconds
