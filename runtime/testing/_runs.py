"""Where an isolation check's runs happen, and the simulation's loop over its schedules.

The runs themselves (``_fresh``: a solo run, schedule 0, a line-level schedule, the load run)
are plain functions; a *runner* calls them here or in a fresh process of the fork server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from runtime._loader import load_bot
from runtime.testing._fresh import fresh_pool, schedule_run, solo_run, whole_turns_run
from runtime.testing._load import ProgressCallback
from runtime.testing._report import Divergence
from runtime.testing._scripts import Scripts
from runtime.testing._simulation import Chooser, Simulation
from runtime.testing._transcript import Transcript
from runtime.testing._verdict import Verdict, noted

__all__ = ["LINES_PER_TURN", "Submit", "run_solo", "runner", "simulate", "whole_turns"]

Submit = Callable[..., "Future[Any]"]
"""``submit(fn, *args)``: run ``fn(*args)``, here or in a fresh process; a future of it."""


@contextlib.contextmanager
def runner(fresh: bool, log_level: int | None) -> Iterator[Submit]:
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


def run_solo(
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


def simulate(
    run: Submit,
    spec: str,
    scripts: Scripts,
    *,
    seed: int,
    indexes: list[int],
    expected: int,
    verdict: Verdict,
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
                found = [noted(divergence, note) for divergence in found]
            if progress is not None:
                progress("simulate", looked, len(indexes))
            if found:
                for rest in futures:
                    rest.cancel()
                return found, looked
    return [], looked


_WAVE = 2
"""Schedules run at once (the fork server's workers: this machine's 2 cores)."""

LINES_PER_TURN = 12
"""Yield points per turn assumed when the solo runs did not count them (in-process runs)."""


def whole_turns(
    spec: str, scripts: Scripts, choose: Chooser
) -> tuple[dict[str, Transcript], list[tuple[str, int]]]:
    """One order of whole turns on one thread (schedule 0, and Hypothesis' runs)."""
    simulation = Simulation(load_bot(spec, fresh=True))
    return simulation.run(scripts, choose), simulation.schedule
