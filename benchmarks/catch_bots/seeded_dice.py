"""Clean: dice rolls from ``random.Random`` seeded by the session id and the roll number.

Each roll makes its own generator from ``(session.id, rolls so far)``: the numbers depend only
on the user's own history, never on the process-wide ``random`` or on other users.
"""

from __future__ import annotations

import random

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "randomness seeded from the session id"

bot = Bot("seeded_dice")
initial = bot.new_state("initial", initial=True)
roll = bot.new_state("roll")
roll_intent = bot.new_intent(
    "roll", ["roll the dice", "roll again", "throw a die", "give me a number"]
)


def roll_body(session: Session) -> None:
    rolls = session.get("rolls") or []
    rng = random.Random(f"{session.id}:{len(rolls)}")
    value = rng.randint(1, 6)
    session.set("rolls", [*rolls, value])
    session.reply(f"You rolled {value} (total {sum(rolls) + value}).")


initial.when_intent_matched_go_to(roll_intent, roll)
initial.set_fallback_body(lambda session: session.reply("Say 'roll the dice'."))
roll.set_body(roll_body)
roll.go_to(initial)
