"""Clean: unit conversion through ``functools.lru_cache`` of a pure function.

``convert(amount, unit)`` depends only on its arguments and returns an immutable string, so
the cache shared by all users can only ever return what the function would compute: hits and
misses give the same replies.
"""

from __future__ import annotations

import functools
import re

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "pure cache"

FACTORS = {"miles": ("km", 1.609344), "pounds": ("kg", 0.45359237), "feet": ("m", 0.3048)}
_NUMBER = re.compile(r"\d+")


@functools.lru_cache(maxsize=128)
def convert(amount: int, unit: str) -> str:
    target, factor = FACTORS[unit]
    return f"{amount} {unit} = {amount * factor:.2f} {target}"


bot = Bot("pure_cache")
initial = bot.new_state("initial", initial=True)
conversion = bot.new_state("conversion")
convert_intent = bot.new_intent(
    "convert", ["convert 5 miles", "10 pounds in kg", "how many meters is 30 feet", "3 miles"]
)


def conversion_body(session: Session) -> None:
    text = (session.message or "").lower()
    unit = next((name for name in FACTORS if name[:-1] in text), "miles")
    found = _NUMBER.search(text)
    amount = int(found.group()) if found else 1
    session.set("conversions", (session.get("conversions") or 0) + 1)
    session.reply(convert(amount, unit))


initial.when_intent_matched_go_to(convert_intent, conversion)
initial.set_fallback_body(lambda session: session.reply("Say 'convert 5 miles'."))
conversion.set_body(conversion_body)
conversion.go_to(initial)
