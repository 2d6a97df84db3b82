"""Racy: a body stashes its session in a global; a later turn replies through the stash.

In this runtime the stashed session only works inside its own turn: from another user's turn
it raises ``SessionAccessError``, the body fails and the reply goes missing.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

_PENDING: Session | None = None

bot = Bot("stashed_session")
initial = bot.new_state("initial", initial=True)
question = bot.new_state("question")
answer = bot.new_state("answer")
ask_intent = bot.new_intent("ask", ["i have a question", "can i ask", "question"])
answer_intent = bot.new_intent("answer", ["the answer is", "here it is", "answer"])


def question_body(session: Session) -> None:
    global _PENDING
    _PENDING = session  # BUG: keeps a session past its turn
    session.reply("Go ahead.")


def answer_body(session: Session) -> None:
    target = _PENDING or session
    target.reply(f"Thanks for the answer: {session.message}")


initial.when_intent_matched_go_to(ask_intent, question)
initial.when_intent_matched_go_to(answer_intent, answer)
question.set_body(question_body)
question.go_to(initial)
answer.set_body(answer_body)
answer.go_to(initial)
