"""Clean: prices with tax through a shared helper module's pure function and read-only table.

``_catch_helpers`` is imported once per process and shared by every user, but this bot only
calls ``format_amount`` (pure) and reads ``TAX_RATES`` (a read-only mapping).
"""

from __future__ import annotations

from _catch_helpers import TAX_RATES, format_amount

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "shared helper, read-only"

BASE_CENTS = {"books": 1500, "food": 420, "tools": 3999}

bot = Bot("helper_pure")
initial = bot.new_state("initial", initial=True)
quote = bot.new_state("quote")
quote_intent = bot.new_intent(
    "quote", ["price of books", "how much is food", "what do tools cost", "tools price"]
)


def quote_body(session: Session) -> None:
    text = (session.message or "").lower()
    family = next((name for name in TAX_RATES if name in text), "food")
    cents = round(BASE_CENTS[family] * (1 + TAX_RATES[family]))
    session.set("quotes", (session.get("quotes") or 0) + 1)
    session.reply(f"{family}: {format_amount(cents, 'EUR')} with tax")


initial.when_intent_matched_go_to(quote_intent, quote)
initial.set_fallback_body(lambda session: session.reply("Ask for a price."))
quote.set_body(quote_body)
quote.go_to(initial)
