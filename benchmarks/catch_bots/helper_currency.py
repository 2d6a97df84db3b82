"""Wallet: "pay in dollars" / "pay in euros" picks your currency; "my balance" shows it.

Race (process-wide state: a helper's class attribute): the currency switch sets
``Money.currency``, a class attribute of the imported helper module ``_catch_helpers``. The
class is shared by every user (and by every fresh copy of this bot module, since the helper is
imported once per process): after another user's "pay in dollars", your balance is shown in
dollars. A user notices the wrong currency.
"""

from __future__ import annotations

from _catch_helpers import Money

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "process-wide"

bot = Bot("helper_currency")
initial = bot.new_state("initial", initial=True)
dollars = bot.new_state("dollars")
euros = bot.new_state("euros")
balance = bot.new_state("balance")
dollars_intent = bot.new_intent("dollars", ["pay in dollars", "use usd", "switch to dollars"])
euros_intent = bot.new_intent("euros", ["pay in euros", "use eur", "switch to euros"])
balance_intent = bot.new_intent("balance", ["my balance", "how much do i have", "show wallet"])


def use_currency(session: Session, currency: str) -> None:
    Money.currency = currency  # BUG: one class attribute for every user
    session.set("switches", (session.get("switches") or 0) + 1)
    session.reply(f"Amounts in {currency} from now on.")


def balance_body(session: Session) -> None:
    cents = 1000 + 37 * len(session.id)
    session.reply(f"You have {Money.format(cents)}.")


initial.when_intent_matched_go_to(dollars_intent, dollars)
initial.when_intent_matched_go_to(euros_intent, euros)
initial.when_intent_matched_go_to(balance_intent, balance)
initial.set_fallback_body(lambda session: session.reply("Ask for your balance."))
dollars.set_body(lambda session: use_currency(session, "USD"))
dollars.go_to(initial)
euros.set_body(lambda session: use_currency(session, "EUR"))
euros.go_to(initial)
balance.set_body(balance_body)
balance.go_to(initial)
