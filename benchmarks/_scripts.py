"""What each simulated user says, and the oracle of the replies each user must get.

Users say different things, so a system that mixes sessions up, loses, duplicates or reorders
a user's messages produces a transcript that differs from the oracle's. User ``u`` cycles
through pattern ``u % P`` starting at offset ``(u // P) % L``: ``P * L`` distinct scripts, each
checked against the transcript that the direct loop (``Engine.run_turn`` on one ``Session``,
no actors) produces for it. Those transcripts are memoised per script, so checking 100k users
costs ``P * L`` oracle runs, not 100k.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks._bots import SLOW_MARKER, greetings_bot
from runtime.engine import Engine, TurnKind
from runtime.session import Session, SessionData

__all__ = ["Check", "Scripts", "blocking_patterns", "is_slow"]

# Weighted towards greetings so most turns run a body and change state.
_ALPHABET = ("hi", "hi", "hello", "great", "fine", "not good", "bad", "awful", "what's up?")
_PATTERNS = 16
_PATTERN_LENGTH = 6

_SLOW_PATTERN_LENGTH = 20  # one slow message in 20: 5% of the events

_MAX_REPORTED = 3


def blocking_patterns(*, marked: bool) -> list[list[str]]:
    """Return W4's patterns: 20 messages each, one of which (if ``marked``) is slow.

    The unmarked patterns are the same messages without the marker, so both sets have the
    same oracle; users start at different offsets, so their slow messages do not line up.
    """
    rng = random.Random(20)
    patterns = []
    for _ in range(_PATTERNS):
        pattern = [rng.choice(_ALPHABET) for _ in range(_SLOW_PATTERN_LENGTH)]
        slow = rng.randrange(_SLOW_PATTERN_LENGTH)
        if marked:
            pattern[slow] = SLOW_MARKER + pattern[slow]
        patterns.append(pattern)
    return patterns


def is_slow(text: str) -> bool:
    """Whether ``text`` makes the blocking bot block."""
    return text.startswith(SLOW_MARKER)


@dataclass(frozen=True)
class Check:
    """The verdict on a set of transcripts."""

    events: int  # replies compared
    wrong: int  # events whose replies differ from the oracle's (or that are missing)
    examples: tuple[str, ...]  # the first few differences, readable

    @property
    def ok(self) -> bool:
        """Whether every reply was the expected one."""
        return self.wrong == 0

    def merged(self, other: Check) -> Check:
        """Return the verdict on both sets of transcripts."""
        examples = (self.examples + other.examples)[:_MAX_REPORTED]
        return Check(self.events + other.events, self.wrong + other.wrong, examples)


class Scripts:
    """The scripts of ``n_users`` users with ids ``f"{prefix}{index}"``, and their oracle.

    Args:
        n_users: how many users.
        prefix: the session id prefix (distinct populations get distinct prefixes).
        patterns: the message cycles to draw from (default: ``_PATTERNS`` random ones).
        seed: seed of the random patterns.
    """

    def __init__(
        self,
        n_users: int,
        *,
        prefix: str = "u",
        patterns: Sequence[Sequence[str]] | None = None,
        seed: int = 4,
    ) -> None:
        if patterns is None:
            rng = random.Random(seed)
            patterns = [
                [rng.choice(_ALPHABET) for _ in range(_PATTERN_LENGTH)] for _ in range(_PATTERNS)
            ]
        lengths = {len(p) for p in patterns}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError("patterns must be non-empty and of one length")
        self.patterns = [tuple(p) for p in patterns]
        self.length = lengths.pop()
        self.prefix = prefix
        self.ids = [f"{prefix}{index}" for index in range(n_users)]
        self._engine: Engine | None = None
        self._oracle: dict[tuple[int, int], tuple[Session, list[list[str]]]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _key(self, user: int) -> tuple[int, int]:
        count = len(self.patterns)
        return user % count, (user // count) % self.length

    def text(self, user: int, round_: int) -> str:
        """Return what ``user`` says in round ``round_`` (its ``round_``-th message, from 0)."""
        pattern, offset = self._key(user)
        return self.patterns[pattern][(offset + round_) % self.length]

    def round_texts(self, users: Sequence[int], round_: int) -> list[str]:
        """Return what each of ``users`` says in round ``round_`` (rounds repeat every L)."""
        return [self.text(user, round_) for user in users]

    def cycle(self, users: Sequence[int]) -> list[list[str]]:
        """Return ``round_texts`` for rounds ``0..L-1``: index it with ``round_ % L``."""
        return [self.round_texts(users, r) for r in range(self.length)]

    def expected(self, user: int, start: int, count: int) -> list[list[str]]:
        """Return the replies ``user`` must get to its messages ``start..start+count-1``."""
        key = self._key(user)
        entry = self._oracle.get(key)
        if entry is None:
            if self._engine is None:
                bot = greetings_bot()
                bot.freeze()
                self._engine = Engine(bot)
            entry = (Session(SessionData(f"oracle-{key}"), self._engine.bot), [])
            self._oracle[key] = entry
        session, transcript = entry
        assert self._engine is not None
        while len(transcript) < start + count:
            text = self.text(user, len(transcript))
            transcript.append(self._engine.run_turn(session, TurnKind.MESSAGE, text).replies)
        return transcript[start : start + count]

    def check(
        self, users: Sequence[int], start: int, transcripts: Sequence[Sequence[object]]
    ) -> Check:
        """Compare each user's transcript (from round ``start``) with the oracle's.

        Args:
            users: user indices.
            start: the round of the first reply in each transcript.
            transcripts: per user, its replies in the order it sent the messages.
        """
        events = wrong = 0
        examples: list[str] = []
        for user, got in zip(users, transcripts, strict=True):
            want = self.expected(user, start, len(got))
            events += len(got)
            if got == want:
                continue
            for round_, (g, w) in enumerate(zip(got, want, strict=True), start):
                if g != w:
                    wrong += 1
                    if len(examples) < _MAX_REPORTED:
                        examples.append(
                            f"{self.prefix}{user} message {round_} "
                            f"({self.text(user, round_)!r}): got {g!r}, expected {w!r}"
                        )
        return Check(events, wrong, tuple(examples))
