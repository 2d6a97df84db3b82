"""The isolation oracle: each user alone, then everyone together; any difference is a race.

Solo runs: for each user, a brand-new copy of the bot module (``load_bot(spec, fresh=True)``,
so module globals start fresh) runs that user's script alone. They run through
:class:`~runtime.engine.Engine` directly, not through a Runtime: a session actor does nothing
but call ``Engine.run_turn`` on its session, one turn at a time, and a lone user's turns are
one at a time anyway, so the replies are the same, without starting threads per user.

Then the same scripts run together on one more fresh copy, in the simulation mode (one
thread, a seeded interleaving of whole turns) and in the load mode (a real Runtime, many
sender threads, forced preemption, jitter). Per user, the replies of every step and the final
session data are compared with the solo run. The first differing step of each user is a
:class:`Divergence`; so is differing final data when every reply matched.

Bots that share data on purpose (a visitor counter) declare what to ignore: ``ignore_keys``
drops session data keys from the comparison, and ``normalise(user, step, replies)`` rewrites
both sides' replies before they are compared.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from types import ModuleType
from typing import Literal

from runtime._loader import load_bot
from runtime.bot import Bot
from runtime.testing._fresh import load_run
from runtime.testing._interleave import DEFAULT_SCHEDULES
from runtime.testing._load import DEFAULT_CONCURRENCY, ProgressCallback
from runtime.testing._report import IsolationReport, Mode, ModeResult
from runtime.testing._runs import LINES_PER_TURN, run_solo, runner, simulate, whole_turns
from runtime.testing._scripts import Scripts, Step, generate_scripts, normalise_scripts
from runtime.testing._simulation import Chooser, Simulation
from runtime.testing._transcript import Transcript
from runtime.testing._verdict import Normaliser, Verdict, compare, not_comparable_hints

__all__ = [
    "BotSpec",
    "Normaliser",
    "bot_spec",
    "check_isolation",
    "compare",
    "fresh_bot",
    "solo_transcripts",
]

BotSpec = str | os.PathLike[str] | ModuleType
"""A bot: ``path/to/bot.py``, ``package.module`` or an imported module defining ``bot``."""


def bot_spec(bot: BotSpec) -> str:
    """Return ``bot`` as the string ``load_bot`` and the command line take.

    Raises:
        TypeError: ``bot`` is not a path, a module name or a module.
    """
    if isinstance(bot, ModuleType):
        path = getattr(bot, "__file__", None)
        return path if isinstance(path, str) else bot.__name__
    if isinstance(bot, str | os.PathLike):
        return os.fspath(bot)
    raise TypeError(
        f"give the bot as a file path, a module name or a module, not {type(bot).__name__}"
    )


def fresh_bot(spec: str) -> Bot:
    """Load a brand-new copy of the bot module: its globals start fresh.

    Raises:
        BotLoadError: the bot cannot be loaded (the message says why).
    """
    return load_bot(spec, fresh=True)


def solo_transcripts(
    spec: str, scripts: Scripts, progress: ProgressCallback | None = None
) -> dict[str, Transcript]:
    """Run each user's script alone on its own fresh copy of the bot."""
    transcripts: dict[str, Transcript] = {}
    for done, (user, script) in enumerate(scripts.items(), start=1):
        transcripts[user] = Simulation(fresh_bot(spec)).run({user: script})[user]
        if progress is not None:
            progress("solo", done, len(scripts))
    return transcripts


def check_isolation(
    bot: BotSpec,
    *,
    scripts: Mapping[str, Sequence[str | Step]] | None = None,
    users: int = 4,
    messages: int = 6,
    seed: int = 0,
    mode: Literal["simulate", "load", "both"] = "both",
    concurrency: int = DEFAULT_CONCURRENCY,
    ignore_keys: Collection[str] = (),
    normalise: Normaliser | None = None,
    scripts_file: str | None = None,
    progress: ProgressCallback | None = None,
    choose: Chooser | None = None,
    replay: str | None = None,
    schedules: int = DEFAULT_SCHEDULES,
    schedule: int | None = None,
    fresh_processes: bool = True,
    log_level: int | None = None,
) -> IsolationReport:
    """Check that every user sees the same with other users active as alone.

    Args:
        bot: ``path/to/bot.py``, ``package.module``, or a module defining ``bot``.
        scripts: each user's messages (str) or :class:`Step`; None generates ``users``
            scripts of ``messages`` steps from the bot's own intents, seeded by ``seed``.
        users: how many users to generate.
        messages: steps per generated user.
        seed: seeds the generated scripts, the simulation's interleaving and the load run's
            threads and jitter.
        mode: ``"simulate"``, ``"load"`` or ``"both"`` (simulation first).
        concurrency: sender threads in the load mode.
        ignore_keys: session data keys the bot shares on purpose (not compared).
        normalise: ``normalise(user, step, replies) -> replies`` for replies that legitimately
            depend on other users (applied to both sides).
        scripts_file: where ``scripts`` came from, for the replay commands.
        progress: ``progress(phase, done, total)``, called as the runs advance.
        choose: the simulation's order of whole turns (then it runs that one order only, as
            ``isolation_test`` does with Hypothesis' choices).
        replay: how to replay a divergence, instead of a ``check-isolation`` command.
        schedules: how many interleavings the simulation tries (it stops at the first that
            diverges): schedule 0 interleaves whole turns; the others interleave inside turns,
            at lines of the bot's own code (``runtime.testing._interleave``).
        schedule: run this schedule only (what a replay command does).
        fresh_processes: run every solo run, schedule and load run in a process of its own,
            forked from a clean fork server (``runtime.testing._fresh``), so that the
            environment, other modules and the global random start clean each time; False
            runs them all in this process (faster to start, but runs can leak into each other).
        log_level: in the fresh processes, log as the command line does from this level
            (None: as a new process does by default).

    Returns:
        The report; ``report.isolated`` tells the verdict, ``str(report)`` explains it.

    Raises:
        BotLoadError: the bot cannot be loaded.
        ValueError, TypeError: an argument is invalid (the message says which).
    """
    spec = bot_spec(bot)
    if mode not in ("simulate", "load", "both"):
        raise ValueError(f"mode must be 'simulate', 'load' or 'both', got {mode!r}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if isinstance(schedules, bool) or not isinstance(schedules, int) or schedules < 1:
        raise ValueError(f"schedules must be a whole number of at least 1, got {schedules!r}")
    if schedule is not None and (
        isinstance(schedule, bool) or not isinstance(schedule, int) or schedule < 0
    ):
        raise ValueError(f"schedule must be a whole number of at least 0, got {schedule!r}")
    generated = scripts is None
    if scripts is None:
        steps = generate_scripts(fresh_bot(spec), users=users, messages=messages, seed=seed)
    else:
        steps = normalise_scripts(scripts)
    fresh = fresh_processes and choose is None
    with runner(fresh, log_level) as run:
        began = time.perf_counter()
        alone, hazards, expected = run_solo(run, spec, steps, seed, progress, measure=fresh)
        if not fresh:  # no yield points counted: a fixed guess, so that replays agree
            expected = LINES_PER_TURN * sum(len(script) for script in steps.values())
        solo_seconds = time.perf_counter() - began
        modes: tuple[Mode, ...] = ("simulate", "load") if mode == "both" else (mode,)
        results = []
        events = sum(len(script) for script in steps.values())
        verdict = Verdict(
            alone,
            steps,
            ignore_keys=ignore_keys,
            normalise=normalise,
            replay=replay,
            replay_options={
                "seed": seed,
                "users": users,
                "messages": messages,
                "concurrency": concurrency,
                "scripts_file": None if generated else (scripts_file or "SCRIPTS.json"),
                "ignore_keys": sorted(ignore_keys),
            },
            spec=spec,
        )
        for current in modes:
            if current == "load":
                transcripts, seconds = run(load_run, spec, steps, seed, concurrency).result()
                if progress is not None:
                    progress("load", events, events)
                found = verdict.divergences("load", transcripts)
                results.append(ModeResult(current, len(steps), events, seconds, tuple(found)))
                continue
            indexes = [schedule] if schedule is not None else list(range(schedules))
            began = time.perf_counter()
            if choose is not None:  # one order of whole turns, chosen by the caller
                together, order = whole_turns(spec, steps, choose)
                found, runs = verdict.divergences("simulate", together, order=order), 1
            else:
                found, runs = simulate(
                    run,
                    spec,
                    steps,
                    seed=seed,
                    indexes=indexes,
                    expected=expected,
                    verdict=verdict,
                    progress=progress,
                )
            seconds = time.perf_counter() - began
            results.append(ModeResult(current, len(steps), events, seconds, tuple(found), runs))
    return IsolationReport(
        hints=(*not_comparable_hints(alone), *hazards),
        bot=spec,
        seed=seed,
        results=tuple(results),
        scripts=steps,
        generated=generated,
        scripts_file=scripts_file,
        solo_seconds=solo_seconds,
    )
