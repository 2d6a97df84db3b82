"""A clean bot keeping values whose equality cannot see across module copies: an instance of
a class with its own ``__eq__`` (an ``isinstance`` check: the other run's class is a different
object), a ``__slots__`` object, and a bare ``object()`` sentinel (identity only: not
comparable at all). Every user gets the same values alone and together."""

from __future__ import annotations

from runtime import Bot, Session


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return hash(self.cents)


class Slot:
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label


bot = Bot("opaque_values")
start = bot.new_state("start", initial=True)
noted = bot.new_state("noted")
start.when_no_intent_matched_go_to(noted)


def note(session: Session) -> None:
    count = (session.get("count") or 0) + 1
    session.set("count", count)
    session.set("price", Money(100 * count))
    session.set("slot", Slot(f"visit {count}"))
    session.set("marker", object())
    session.reply(f"visit {count}")


noted.set_body(note)
noted.go_to(start)
