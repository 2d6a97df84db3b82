"""Clean: a module-level turn counter used only in log lines, never in replies or session data.

``_TURNS`` is shared and grows with every user's turns (not even atomically), but it only goes
to the log: what each user reads and what is stored for them never depends on it.
"""

# ruff: noqa: PLW0603 (a shared counter is fine here: it only reaches the log)

from __future__ import annotations

import logging

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "global counter only for logging"

_log = logging.getLogger("catch_bots.logging_counter")
_TURNS = 0

bot = Bot("logging_counter")
initial = bot.new_state("initial", initial=True)
echo = bot.new_state("echo")
echo_intent = bot.new_intent("echo", ["repeat after me", "echo this", "say it back", "parrot"])


def echo_body(session: Session) -> None:
    global _TURNS
    _TURNS += 1
    _log.info("echo turn %d for %s", _TURNS, session.id)
    session.set("echoes", (session.get("echoes") or 0) + 1)
    session.reply(f"You said: {session.message}")


initial.when_intent_matched_go_to(echo_intent, echo)
initial.set_fallback_body(lambda session: session.reply("Say 'echo this'."))
echo.set_body(echo_body)
echo.go_to(initial)
