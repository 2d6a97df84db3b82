"""Racy: a "last user" global, set when someone says hello and used when anyone says bye."""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

LAST_USER: str | None = None

bot = Bot("last_user")
initial = bot.new_state("initial", initial=True)
hello = bot.new_state("hello")
bye = bot.new_state("bye")
hello_intent = bot.new_intent("hello", ["hello", "hi there", "good morning"])
bye_intent = bot.new_intent("bye", ["bye", "goodbye", "see you later"])


def hello_body(session: Session) -> None:
    global LAST_USER
    LAST_USER = session.id
    session.reply("Hello!")


def bye_body(session: Session) -> None:
    session.reply(f"Goodbye, {LAST_USER or 'stranger'}!")  # BUG: should be session.id


initial.when_intent_matched_go_to(hello_intent, hello)
initial.when_intent_matched_go_to(bye_intent, bye)
hello.set_body(hello_body)
hello.go_to(initial)
bye.set_body(bye_body)
bye.go_to(initial)
