"""Clean: an order kept in session data as a frozen dataclass holding enum members and tuples.

``Order`` (a frozen dataclass) holds a ``Status`` enum member and a tuple of ``Line``
dataclasses, each with a ``Size`` enum member. Only the session holds them. Every run of the
isolation check loads its own copy of this module, hence its own classes: a checker comparing
by identity would see two "different" orders that print the same.
"""

from __future__ import annotations

import dataclasses
import enum

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "dataclasses and enums in session data"


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


class Status(enum.Enum):
    OPEN = enum.auto()
    PLACED = enum.auto()


@dataclasses.dataclass(frozen=True)
class Line:
    drink: str
    size: Size


@dataclasses.dataclass(frozen=True)
class Order:
    status: Status = Status.OPEN
    lines: tuple[Line, ...] = ()


bot = Bot("typed_order")
initial = bot.new_state("initial", initial=True)
adding = bot.new_state("adding")
placing = bot.new_state("placing")
add_intent = bot.new_intent(
    "add", ["a large latte", "small tea please", "add a large mocha", "one small latte"]
)
place_intent = bot.new_intent("place", ["place the order", "that is all", "done ordering"])


def adding_body(session: Session) -> None:
    text = (session.message or "").lower()
    size = Size.LARGE if "large" in text else Size.SMALL
    drink = next((name for name in ("latte", "tea", "mocha") if name in text), "latte")
    order = session.get("order") or Order()
    if order.status is Status.PLACED:
        order = Order()
    order = dataclasses.replace(order, lines=(*order.lines, Line(drink, size)))
    session.set("order", order)
    session.reply(f"{len(order.lines)} drink(s) so far.")


def placing_body(session: Session) -> None:
    order = session.get("order") or Order()
    session.set("order", dataclasses.replace(order, status=Status.PLACED))
    session.set("last_status", Status.PLACED)
    session.reply(f"Order placed: {len(order.lines)} drink(s).")


initial.when_intent_matched_go_to(add_intent, adding)
initial.when_intent_matched_go_to(place_intent, placing)
initial.set_fallback_body(lambda session: session.reply("What would you like?"))
adding.set_body(adding_body)
adding.go_to(initial)
placing.set_body(placing_body)
placing.go_to(initial)
