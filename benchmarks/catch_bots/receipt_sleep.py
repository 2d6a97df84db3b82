"""Café till: "a coffee please" adds to your order; "receipt please" prints your receipt.

Race (inside a turn): the receipt body stores the customer in the module-level ``_CUSTOMER``,
then calls ``time.sleep(0)`` (the author yields so the printer thread can start), then builds
the receipt from ``_CUSTOMER``. Another customer's receipt turn that runs in that gap overwrites
it: you get a receipt headed with someone else's customer number and their item count. Between
turns the global is always written before it is read, so only overlapping turns show it.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

import time

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "inside a turn"

_CUSTOMER = ""  # BUG: a global where a local belongs

bot = Bot("receipt_sleep")
initial = bot.new_state("initial", initial=True)
buy = bot.new_state("buy")
receipt = bot.new_state("receipt")
buy_intent = bot.new_intent(
    "buy", ["a coffee please", "one tea", "add a croissant", "i want a muffin"]
)
receipt_intent = bot.new_intent("receipt", ["receipt please", "print my receipt", "the bill"])


def buy_body(session: Session) -> None:
    session.set("items", (session.get("items") or 0) + 1)
    session.reply("Added.")


def receipt_body(session: Session) -> None:
    global _CUSTOMER
    _CUSTOMER = session.id
    counts = {_CUSTOMER: session.get("items") or 0}
    time.sleep(0)  # let the printer thread run
    session.reply(f"Receipt for {_CUSTOMER}: {counts.get(_CUSTOMER, '?')} item(s)")


initial.when_intent_matched_go_to(buy_intent, buy)
initial.when_intent_matched_go_to(receipt_intent, receipt)
initial.set_fallback_body(lambda session: session.reply("What can I get you?"))
buy.set_body(buy_body)
buy.go_to(initial)
receipt.set_body(receipt_body)
receipt.go_to(initial)
