"""Deterministic simulation: many users' turns on one thread, in an order a scheduler picks.

A :class:`Simulation` holds one :class:`~runtime.engine.Engine` and one ``Session`` per user on
*one* copy of the bot, so module globals are shared between users exactly as under load. Turns
run whole, one at a time, on the calling thread; a *chooser* picks whose next step runs. With
``random.Random(seed)`` as the chooser an interleaving replays exactly from its seed; with
Hypothesis drawing the choices (``runtime.testing.isolation_test``) a failing interleaving also
shrinks.

What it sees, and what it cannot:

- It sees races *between turns*: user data kept in module globals (keyed by nothing or by the
  wrong key), a "last user" global read in a later turn, shared counters and lazily filled
  caches, a session object stashed in a global and used in another user's turn (that raises
  ``SessionAccessError``, so the reply goes missing).
- It cannot see races *inside a turn*: a body that sets a global and reads it back a moment
  later, or a read-modify-write interrupted mid-body by another thread. Turns never overlap
  here; use the load mode (``runtime.testing.run_load``) for those.

A solo run is a simulation with one user on its own fresh copy of the bot.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from runtime.bot import Bot
from runtime.engine import Engine
from runtime.event import Event, TurnKind
from runtime.session import SessionData
from runtime.testing._scripts import Scripts, Step
from runtime.testing._transcript import StepResult, Transcript, describe_crash
from runtime.turn import SessionTurns

__all__ = ["Chooser", "Simulation", "seeded_chooser", "step_event"]

Chooser = Callable[[Sequence[str]], str]
"""Pick whose step runs next among the users that have steps left (given in script order)."""


def step_event(user: str, step: Step) -> Event:
    """Return the runtime ``Event`` that ``user`` sending ``step`` is."""
    if step.kind == "message":
        return Event.message(user, step.text)
    if step.kind == "file":
        return Event(user, TurnKind.FILE, step.file)
    return Event.custom(user, step.text, step.payload)


def seeded_chooser(seed: int) -> Chooser:
    """Return a chooser that picks uniformly with ``random.Random`` seeded by ``seed``."""
    rng = random.Random(f"runtime.testing.simulation:{seed}")
    return lambda ready: ready[rng.randrange(len(ready))]


class Simulation:
    """Run users' turns of one bot copy on the calling thread, one whole turn at a time.

    Args:
        bot: the bot (frozen here, as a Runtime would); give each simulation its own copy
            (``load_bot(spec, fresh=True)``) so globals start fresh.
    """

    def __init__(self, bot: Bot) -> None:
        bot.freeze()
        self._bot = bot
        self._engine = Engine(bot)
        self._sessions: dict[str, SessionTurns] = {}
        self.schedule: list[tuple[str, int]] = []
        """Every step run so far, as (user, index in the user's script)."""

    def send(self, user: str, step: Step) -> StepResult:
        """Run one turn: ``step`` sent by ``user`` (whose session opens on first contact)."""
        turns = self._sessions.get(user)
        if turns is None:
            turns = self._sessions[user] = SessionTurns(self._engine, SessionData(user))
        try:
            # The same commit point a session actor uses: a failed turn is rolled back whole.
            outcome = turns.run(step_event(user, step))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return StepResult((), error=describe_crash(exc), body_errors=0)
        return StepResult(
            tuple(outcome.replies), body_errors=outcome.body_errors + outcome.event_errors
        )

    def data(self, user: str) -> dict[str, object]:
        """Return a deep copy of ``user``'s session data ({} if the user never sent anything)."""
        turns = self._sessions.get(user)
        snapshot = None if turns is None else turns.snapshot()
        return {} if snapshot is None else dict(snapshot.data)

    def run(self, scripts: Scripts, choose: Chooser | None = None) -> dict[str, Transcript]:
        """Run every user's script to the end, interleaved as ``choose`` decides.

        Args:
            scripts: each user's steps.
            choose: picks the next user among those with steps left; None runs the users one
                after another, each script whole (what a solo run needs).

        Returns:
            Each user's transcript, in the order of ``scripts``.
        """
        transcripts = {user: Transcript(user) for user in scripts}
        left = {user: list(script) for user, script in scripts.items() if script}
        while left:
            ready = list(left)
            user = ready[0] if choose is None else choose(ready)
            steps = left[user]
            index = len(transcripts[user].steps)
            self.schedule.append((user, index))
            transcripts[user].steps.append(self.send(user, steps.pop(0)))
            if not steps:
                del left[user]
        for user, transcript in transcripts.items():
            transcript.data = self.data(user)
        return transcripts
