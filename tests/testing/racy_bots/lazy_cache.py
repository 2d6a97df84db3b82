"""Racy: a lazily built cache of the welcome text, filled from the first user's data forever."""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

_WELCOME: str | None = None

bot = Bot("lazy_cache")
initial = bot.new_state("initial", initial=True)
welcome = bot.new_state("welcome")
name = bot.new_state("name")
welcome_intent = bot.new_intent("welcome", ["welcome me", "hello", "hi"])
name_intent = bot.new_intent("name", ["my name is", "call me", "i am"])


def welcome_body(session: Session) -> None:
    global _WELCOME
    if _WELCOME is None:  # BUG: built once, from whoever comes first
        _WELCOME = f"Welcome, {session.get('name') or session.id}!"
    session.reply(_WELCOME)


def name_body(session: Session) -> None:
    session.set("name", (session.message or "").split()[-1])
    session.reply("Nice to meet you.")


initial.when_intent_matched_go_to(welcome_intent, welcome)
initial.when_intent_matched_go_to(name_intent, name)
welcome.set_body(welcome_body)
welcome.go_to(initial)
name.set_body(name_body)
name.go_to(initial)
