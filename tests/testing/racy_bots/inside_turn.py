"""Racy inside a turn: a body sets a "current user" global, works a little, then reads it.

Turns never overlap in the simulation, so only the load mode can catch this one: another
thread's turn has to run between the write and the read.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

CURRENT_USER = ""

bot = Bot("inside_turn")
initial = bot.new_state("initial", initial=True)
report = bot.new_state("report")
report_intent = bot.new_intent("report", ["make a report", "report please", "summary"])


def report_body(session: Session) -> None:
    global CURRENT_USER
    CURRENT_USER = session.id  # BUG: a global where a local belongs
    lines = [f"line {number}: {number * number}" for number in range(200)]  # some work
    session.reply(f"Report for {CURRENT_USER}: {len(lines)} lines")


initial.when_intent_matched_go_to(report_intent, report)
initial.set_fallback_body(lambda session: session.reply("Say 'make a report'."))
report.set_body(report_body)
report.go_to(initial)
