"""Racy: ticket numbers come from one module-level counter, read, then written back."""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

COUNTER = 0

bot = Bot("shared_counter")
initial = bot.new_state("initial", initial=True)
ticket = bot.new_state("ticket")
ticket_intent = bot.new_intent("ticket", ["give me a ticket", "take a number", "next please"])


def ticket_body(session: Session) -> None:
    global COUNTER
    number = COUNTER  # BUG: shared by every user (and not even atomic)
    COUNTER = number + 1
    session.set("tickets", (session.get("tickets") or 0) + 1)
    session.reply(f"Your ticket is number {number + 1}")


initial.when_intent_matched_go_to(ticket_intent, ticket)
initial.set_fallback_body(lambda session: session.reply("Say 'give me a ticket'."))
ticket.set_body(ticket_body)
ticket.go_to(initial)
