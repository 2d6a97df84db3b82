"""Bank balance: "what is my balance" answers with your balance; "deposit ten" adds 10.

Race (inside a turn): the balance body keeps the account holder in the module-level
``_ACTOR`` for its audit log line, writes the log line, then reads ``_ACTOR`` back to choose
whose balance to show. The logging call is where the thread may switch: another user's balance
turn overwrites ``_ACTOR`` and you are shown *their* account and balance. Between turns the
global is always written before it is read. A user notices a stranger's account number.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

import logging

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "inside a turn"

_log = logging.getLogger("catch_bots.audit")
_ACTOR = ""  # BUG: whose balance is being shown, kept in a global for the audit line

bot = Bot("audit_logging")
initial = bot.new_state("initial", initial=True)
balance = bot.new_state("balance")
deposit = bot.new_state("deposit")
balance_intent = bot.new_intent(
    "balance", ["what is my balance", "how much money do i have", "show my account"]
)
deposit_intent = bot.new_intent("deposit", ["deposit ten", "put in ten euros", "add ten"])


def balance_body(session: Session) -> None:
    global _ACTOR
    _ACTOR = session.id
    _log.info("balance shown to %s", _ACTOR)
    session.reply(f"Account {_ACTOR}: {session.get('balance') or 0} EUR")


def deposit_body(session: Session) -> None:
    session.set("balance", (session.get("balance") or 0) + 10)
    session.reply("Deposited 10 EUR.")


initial.when_intent_matched_go_to(balance_intent, balance)
initial.when_intent_matched_go_to(deposit_intent, deposit)
initial.set_fallback_body(lambda session: session.reply("Ask for your balance."))
balance.set_body(balance_body)
balance.go_to(initial)
deposit.set_body(deposit_body)
deposit.go_to(initial)
