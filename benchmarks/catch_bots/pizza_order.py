"""Pizza: "i want a pizza", then a size ("large please"), then "yes confirm"; "cancel" quits.

Race (deep path): the size chosen in the second step is kept in the module-level ``_SIZE`` and
the confirmation (third step) orders a pizza of ``_SIZE``. It only shows when a user goes all
the way (order, size, confirm: three specific intents in that order, each in the state that
expects it) while another user picks a different size between that user's size and confirm:
you are charged for, and your order history (session data) records, their size.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "deep path"

SIZES = ("small", "medium", "large")
PRICES = {"small": 8, "medium": 10, "large": 13}
_SIZE = "medium"  # BUG: the size being ordered, shared by everyone mid-order

bot = Bot("pizza_order")
initial = bot.new_state("initial", initial=True)
choosing = bot.new_state("choosing")
sizing = bot.new_state("sizing")
confirmed = bot.new_state("confirmed")
cancelled = bot.new_state("cancelled")
order_intent = bot.new_intent(
    "order", ["i want a pizza", "order a pizza", "pizza time", "get me a pizza"]
)
size_intent = bot.new_intent(
    "size", ["small", "a medium one", "large please", "make it small", "the large size"]
)
confirm_intent = bot.new_intent(
    "confirm", ["yes confirm", "yes that is right", "go ahead", "sounds good", "yes"]
)
cancel_intent = bot.new_intent("cancel", ["cancel"])


def choosing_body(session: Session) -> None:
    session.reply("Small, medium or large?")


def sizing_body(session: Session) -> None:
    global _SIZE
    text = (session.message or "").lower()
    _SIZE = next((size for size in SIZES if size in text), "medium")
    session.reply(f"A {_SIZE} pizza for {PRICES[_SIZE]} EUR. Shall I order it?")


def confirmed_body(session: Session) -> None:
    session.set("orders", [*(session.get("orders") or []), _SIZE])
    session.reply(f"Ordered: one {_SIZE} pizza, {PRICES[_SIZE]} EUR.")


initial.when_intent_matched_go_to(order_intent, choosing)
initial.set_fallback_body(lambda session: session.reply("Say 'i want a pizza'."))
choosing.set_body(choosing_body)
choosing.when_intent_matched_go_to(size_intent, sizing)
choosing.when_intent_matched_go_to(cancel_intent, cancelled)
choosing.set_fallback_body(lambda session: session.reply("Which size?"))
sizing.set_body(sizing_body)
sizing.when_intent_matched_go_to(confirm_intent, confirmed)
sizing.when_intent_matched_go_to(cancel_intent, cancelled)
sizing.set_fallback_body(lambda session: session.reply("Say 'yes confirm' or 'cancel'."))
confirmed.set_body(confirmed_body)
confirmed.go_to(initial)
cancelled.set_body(lambda session: session.reply("Order cancelled."))
cancelled.go_to(initial)
