"""Clean: opening hours and prices from a module-level configuration that is only ever read.

``CONFIG`` is built once at import, wrapped in a read-only mapping proxy, and bodies only read
it: every user sees the same values whatever the others do.
"""

from __future__ import annotations

from types import MappingProxyType

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "read-only config"

CONFIG = MappingProxyType(
    {
        "shop": "Corner Bakery",
        "hours": "7:00-19:00",
        "prices": MappingProxyType({"bread": 3, "croissant": 2, "pie": 12}),
    }
)

bot = Bot("readonly_config")
initial = bot.new_state("initial", initial=True)
hours = bot.new_state("hours")
price = bot.new_state("price")
hours_intent = bot.new_intent("hours", ["opening hours", "when are you open", "are you open"])
price_intent = bot.new_intent(
    "price", ["price of bread", "how much is a croissant", "what does a pie cost"]
)


def hours_body(session: Session) -> None:
    session.reply(f"{CONFIG['shop']} is open {CONFIG['hours']}.")


def price_body(session: Session) -> None:
    text = (session.message or "").lower()
    item = next((name for name in CONFIG["prices"] if name in text), "bread")
    session.set("asked", [*(session.get("asked") or []), item])
    session.reply(f"A {item} is {CONFIG['prices'][item]} EUR.")


initial.when_intent_matched_go_to(hours_intent, hours)
initial.when_intent_matched_go_to(price_intent, price)
initial.set_fallback_body(lambda session: session.reply("Ask about hours or prices."))
hours.set_body(hours_body)
hours.go_to(initial)
price.set_body(price_body)
price.go_to(initial)
