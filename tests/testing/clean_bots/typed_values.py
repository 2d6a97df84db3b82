"""A clean bot that keeps a frozen dataclass, an Enum member, a named tuple, a set and a plain
object in session data: equal values in every run, although each run loads its own copy of
this module (so each run has its own classes)."""

from __future__ import annotations

import dataclasses
import enum
from typing import NamedTuple

from runtime import Bot, Session


class Mood(enum.Enum):
    GOOD = "good"
    BAD = "bad"


@dataclasses.dataclass(frozen=True)
class Visit:
    count: int
    last: str


class Point(NamedTuple):
    x: int
    y: int


class Tally:
    def __init__(self, seen: int) -> None:
        self.seen = seen


bot = Bot("typed_values")
start = bot.new_state("start", initial=True)
noted = bot.new_state("noted")
start.when_no_intent_matched_go_to(noted)


def noted_body(session: Session) -> None:
    visit = session.get("visit") or Visit(0, "")
    text = session.message or ""
    session.set("visit", Visit(visit.count + 1, text))
    session.set("mood", Mood.GOOD if len(text) % 2 else Mood.BAD)
    session.set("where", Point(len(text), visit.count))
    session.set("words", set(text.split()))
    session.set("tally", Tally(visit.count + 1))
    session.set("ratio", float("nan") if not text else len(text) / 3)
    session.reply(f"visit {visit.count + 1}")


noted.set_body(noted_body)
noted.go_to(start)
