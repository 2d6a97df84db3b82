"""Quiz: "quiz me" asks the next question; "the answer is ..." checks it.

Race (between turns): the index of the next question is one module-level counter, ``_NEXT``,
bumped by every user's "quiz me". Alone, your questions come in order (1, 2, 3...); with other
players, you skip the questions they were asked, and your score (session data) changes with it.
A user notices a quiz that skips questions or repeats one after a restart.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"

QUESTIONS = (
    ("What is the capital of France?", "paris"),
    ("How many legs has a spider?", "eight"),
    ("Which planet is red?", "mars"),
    ("What do bees make?", "honey"),
    ("Which ocean is the largest?", "pacific"),
)
_NEXT = 0  # BUG: one question counter for every player; belongs in the session

bot = Bot("quiz_questions")
initial = bot.new_state("initial", initial=True)
ask = bot.new_state("ask")
check = bot.new_state("check")
ask_intent = bot.new_intent("ask", ["quiz me", "next question", "ask me something"])
answer_intent = bot.new_intent(
    "answer", ["the answer is paris", "i think it is mars", "is it honey", "eight"]
)


def ask_body(session: Session) -> None:
    global _NEXT
    number = _NEXT % len(QUESTIONS)
    _NEXT += 1
    session.set("question", number)
    session.reply(f"Question {number + 1}: {QUESTIONS[number][0]}")


def check_body(session: Session) -> None:
    number = session.get("question")
    if number is None:
        session.reply("Say 'quiz me' first.")
        return
    right = QUESTIONS[number][1] in (session.message or "").lower()
    session.set("score", (session.get("score") or 0) + int(right))
    session.reply("Right!" if right else f"No, it was {QUESTIONS[number][1]}.")


initial.when_intent_matched_go_to(ask_intent, ask)
initial.when_intent_matched_go_to(answer_intent, check)
initial.set_fallback_body(lambda session: session.reply("Say 'quiz me'."))
ask.set_body(ask_body)
ask.go_to(initial)
check.set_body(check_body)
check.go_to(initial)
