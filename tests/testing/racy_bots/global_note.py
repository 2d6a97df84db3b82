"""Racy: every user's note lives in one module-level dict keyed by nothing.

Alone, "what is my note" answers with your own note; with others around, with the last note
anyone wrote.
"""

from __future__ import annotations

from typing import Any

from runtime import Bot, Session

NOTES: dict[str, Any] = {}  # BUG: one dict for everyone; should be session.set("note", ...)

bot = Bot("global_note")
initial = bot.new_state("initial", initial=True)
remember = bot.new_state("remember")
recall = bot.new_state("recall")
remember_intent = bot.new_intent("remember", ["remember this", "take a note", "write down"])
recall_intent = bot.new_intent("recall", ["what is my note", "read my note", "recall"])


def remember_body(session: Session) -> None:
    NOTES["note"] = session.message
    session.reply("Noted.")


def recall_body(session: Session) -> None:
    session.reply(f"Your note: {NOTES.get('note', 'none')}")


initial.when_intent_matched_go_to(remember_intent, remember)
initial.when_intent_matched_go_to(recall_intent, recall)
remember.set_body(remember_body)
remember.go_to(initial)
recall.set_body(recall_body)
recall.go_to(initial)
