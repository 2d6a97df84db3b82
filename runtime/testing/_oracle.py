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

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future
from types import ModuleType
from typing import Any, Literal

from runtime._loader import load_bot
from runtime.bot import Bot
from runtime.testing._fresh import fresh_pool, load_run, schedule_run, solo_run, whole_turns_run
from runtime.testing._interleave import DEFAULT_SCHEDULES
from runtime.testing._load import DEFAULT_CONCURRENCY, ProgressCallback
from runtime.testing._report import (
    Divergence,
    IsolationReport,
    Mode,
    ModeResult,
    data_lines,
    replay_command,
)
from runtime.testing._scripts import (
    Scripts,
    Step,
    generate_scripts,
    normalise_scripts,
)
from runtime.testing._simulation import Chooser, Simulation
from runtime.testing._structural import not_comparable, structural
from runtime.testing._transcript import Transcript

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

Normaliser = Callable[[str, int, list[str]], list[str]]
"""``normalise(user, step, replies) -> replies``, applied to both sides before comparing."""


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


def compare(
    alone: Mapping[str, Transcript],
    together: Mapping[str, Transcript],
    scripts: Scripts,
    *,
    mode: Mode,
    replay: str,
    ignore_keys: Collection[str] = (),
    normalise: Normaliser | None = None,
    schedule: Sequence[tuple[str, int]] = (),
) -> list[Divergence]:
    """Compare each user's transcript together with the one alone.

    ``schedule`` is the simulation's order of turns, as (user, step); when given, a
    divergence notes the turns that ran just before it.

    Returns:
        Per user, the first step that differs (replies, a failed event, or a different count
        of body errors where both sides know it), or else the final data if it differs.
    """
    divergences: list[Divergence] = []
    for user, expected in alone.items():
        actual = together[user]
        found = False
        for index, (want, got) in enumerate(zip(expected.steps, actual.steps, strict=True)):
            want_replies = list(want.replies)
            got_replies = list(got.replies)
            if normalise is not None:
                want_replies = normalise(user, index, want_replies)
                got_replies = normalise(user, index, got_replies)
            notes = []
            if want.error != got.error:
                notes.append(f"alone: {want.error or 'ok'}; together: {got.error or 'ok'}")
            known = want.body_errors is not None and got.body_errors is not None
            if known and want.body_errors != got.body_errors:
                notes.append(
                    f"bodies raised {got.body_errors} time(s) together, "
                    f"{want.body_errors} alone (see the log)"
                )
            if want_replies != got_replies or notes:
                if schedule:
                    notes.append(_turns_before(schedule, user, index))
                divergences.append(
                    Divergence(
                        mode,
                        user,
                        index,
                        scripts[user][index].describe(),
                        tuple(want_replies),
                        tuple(got_replies),
                        replay,
                        "\n".join(notes),
                    )
                )
                found = True
                break
        if found:
            continue
        want_data = {k: v for k, v in expected.data.items() if k not in ignore_keys}
        got_data = {k: v for k, v in actual.data.items() if k not in ignore_keys}
        if structural(want_data) != structural(got_data):  # each run has its module copy
            divergences.append(
                Divergence(
                    mode,
                    user,
                    None,
                    "(end of script)",
                    data_lines(want_data),
                    data_lines(got_data),
                    replay,
                )
            )
    return divergences


def _turns_before(schedule: Sequence[tuple[str, int]], user: str, index: int) -> str:
    position = list(schedule).index((user, index))
    shown = schedule[max(0, position - _SHOWN_TURNS) : position + 1]
    turns = ", ".join(f"{who} step {step}" for who, step in shown)
    return f"turns in order: {'... ' if position > _SHOWN_TURNS else ''}{turns}"


_SHOWN_TURNS = 6


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
    with _runner(fresh, log_level) as run:
        began = time.perf_counter()
        alone, hazards, expected = _solo(run, spec, steps, seed, progress, measure=fresh)
        if not fresh:  # no yield points counted: a fixed guess, so that replays agree
            expected = _LINES_PER_TURN * sum(len(script) for script in steps.values())
        solo_seconds = time.perf_counter() - began
        modes: tuple[Mode, ...] = ("simulate", "load") if mode == "both" else (mode,)
        results = []
        events = sum(len(script) for script in steps.values())
        verdict = _Verdict(
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
                together, order = _whole_turns(spec, steps, choose)
                found, runs = verdict.divergences("simulate", together, order=order), 1
            else:
                found, runs = _simulate(
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
        hints=(*_not_comparable(alone), *hazards),
        bot=spec,
        seed=seed,
        results=tuple(results),
        scripts=steps,
        generated=generated,
        scripts_file=scripts_file,
        solo_seconds=solo_seconds,
    )


Submit = Callable[..., "Future[Any]"]
"""``submit(fn, *args)``: run ``fn(*args)``, here or in a fresh process; a future of it."""


@contextlib.contextmanager
def _runner(fresh: bool, log_level: int | None) -> Iterator[Submit]:
    if fresh:
        with fresh_pool(log_level=log_level) as submit:
            yield submit
        return

    def here(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the future carries it, as a pool's would
            future.set_exception(exc)
        return future

    yield here


def _solo(
    run: Submit,
    spec: str,
    scripts: Scripts,
    seed: int,
    progress: ProgressCallback | None,
    *,
    measure: bool,
) -> tuple[dict[str, Transcript], list[str], int]:
    """Each user alone: the transcripts, the process-wide hazards seen, the yield points."""
    futures = {
        user: run(solo_run, spec, user, script, seed, measure) for user, script in scripts.items()
    }
    alone: dict[str, Transcript] = {}
    hazards: dict[str, list[str]] = {}
    steps = 0
    for done, (user, future) in enumerate(futures.items(), start=1):
        transcript, found, count = future.result()
        alone[user] = transcript
        steps += count
        for hazard in found:
            hazards.setdefault(hazard, []).append(user)
        if progress is not None:
            progress("solo", done, len(futures))
    return alone, [_hazard(what, users) for what, users in hazards.items()], steps


def _hazard(what: str, users: list[str]) -> str:
    shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
    advice = _ADVICE.get(what.split(" ", 1)[0], "")
    return (
        f"process-wide state: the bot {what} during a turn (alone, as {shown}); every user of "
        f"a server shares it{advice}"
    )


_ADVICE = {
    "draws": ": use a random.Random of its own (seeded from the session id to repeat)",
    "changes": ": keep per-user data in the session",
}


def _simulate(
    run: Submit,
    spec: str,
    scripts: Scripts,
    *,
    seed: int,
    indexes: list[int],
    expected: int,
    verdict: _Verdict,
    progress: ProgressCallback | None,
) -> tuple[list[Divergence], int]:
    """Run the simulation's schedules, two at a time, until one diverges; return its
    divergences and how many schedules were looked at (in order)."""
    looked = 0
    for start in range(0, len(indexes), _WAVE):
        batch = indexes[start : start + _WAVE]
        futures = [
            run(whole_turns_run, spec, scripts, seed)
            if index == 0
            else run(schedule_run, spec, scripts, seed, index, max(expected, 1))
            for index in batch
        ]
        for index, future in zip(batch, futures, strict=True):
            looked += 1
            if index == 0:
                together, order = future.result()
                found = verdict.divergences("simulate", together, index=index, order=order)
            else:
                together, described, blocked = future.result()
                found = verdict.divergences("simulate", together, index=index)
                note = described
                if blocked:
                    note += f"\nblocked past the timeout (the replay may differ): {blocked[0]}"
                found = [_noted(divergence, note) for divergence in found]
            if progress is not None:
                progress("simulate", looked, len(indexes))
            if found:
                for rest in futures:
                    rest.cancel()
                return found, looked
    return [], looked


_WAVE = 2
"""Schedules run at once (the fork server's workers: this machine's 2 cores)."""

_LINES_PER_TURN = 12
"""Yield points per turn assumed when the solo runs did not count them (in-process runs)."""


def _not_comparable(alone: Mapping[str, Transcript]) -> tuple[str, ...]:
    """Hints for the session values no comparison can check (each key named once)."""
    hints: dict[str, str] = {}
    for user, transcript in alone.items():
        for key, value in transcript.data.items():
            for what in not_comparable(value):
                hints.setdefault(
                    f"{key}:{what}",
                    f"session data {key!r} (user {user} and maybe others) holds an {what}: "
                    "not comparable, so not compared; store plain data (or give its class "
                    "fields) to have it checked",
                )
    return tuple(hints.values())


@dataclasses.dataclass(frozen=True)
class _Verdict:
    """Compares a mode's transcripts with the solo runs, naming how to replay the run."""

    alone: Mapping[str, Transcript]
    scripts: Scripts
    ignore_keys: Collection[str]
    normalise: Normaliser | None
    replay: str | None
    replay_options: Mapping[str, Any]
    spec: str

    def divergences(
        self,
        mode: Mode,
        together: Mapping[str, Transcript],
        *,
        index: int | None = None,
        order: Sequence[tuple[str, int]] = (),
    ) -> list[Divergence]:
        command = self.replay or replay_command(
            self.spec, mode=mode, schedule=index, **self.replay_options
        )
        found = compare(
            self.alone,
            together,
            self.scripts,
            mode=mode,
            replay=command,
            ignore_keys=self.ignore_keys,
            normalise=self.normalise,
            schedule=order,
        )
        return [dataclasses.replace(d, schedule=index) for d in found]


def _noted(divergence: Divergence, note: str) -> Divergence:
    detail = f"{divergence.detail}\n{note}" if divergence.detail else note
    return dataclasses.replace(divergence, detail=detail)


def _whole_turns(
    spec: str, scripts: Scripts, choose: Chooser
) -> tuple[dict[str, Transcript], list[tuple[str, int]]]:
    """One order of whole turns on one thread (schedule 0, and Hypothesis' runs)."""
    simulation = Simulation(fresh_bot(spec))
    return simulation.run(scripts, choose), simulation.schedule
