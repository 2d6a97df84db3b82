"""Comparing a run with the solo runs: per user, the first step that differs, or the data.

The solo runs are the truth: each user alone on a fresh copy of the bot. Per user, the replies
of every step and the final session data are compared with a run together; the first
differing step is a :class:`Divergence`, as is differing final data when every reply matched.
Data is compared by structure (``_structural``), so values of each run's copy of the bot's
classes compare equal when their fields do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from runtime.testing._report import Divergence, Mode, data_lines, replay_command
from runtime.testing._scripts import Scripts
from runtime.testing._structural import not_comparable, structural
from runtime.testing._transcript import Transcript

__all__ = ["Normaliser", "Verdict", "compare", "not_comparable_hints", "noted"]

Normaliser = Callable[[str, int, list[str]], list[str]]
"""``normalise(user, step, replies) -> replies``, applied to both sides before comparing."""


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


def not_comparable_hints(alone: Mapping[str, Transcript]) -> tuple[str, ...]:
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
class Verdict:
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


def noted(divergence: Divergence, note: str) -> Divergence:
    detail = f"{divergence.detail}\n{note}" if divergence.detail else note
    return dataclasses.replace(divergence, detail=detail)
