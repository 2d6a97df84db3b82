"""Restaurant info: "show the menu", "opening hours" and "help".

Race (leaks only through replies): bodies collect their lines in a module-level output buffer,
``_OUT``, and ``flush`` sends and clears it. The help body writes a tip line with ``say`` but
answers with ``session.reply`` and never flushes, so its tip stays in the buffer and is sent
with the *next* flushed reply, whoever that is for. Alone the tip comes back to you; with other
users it turns up in a stranger's menu. No session data differs: only what users read.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "replies only"

_OUT: list[str] = []  # BUG: one output buffer for every user


def say(line: str) -> None:
    _OUT.append(line)


def flush(session: Session) -> None:
    session.reply("\n".join(_OUT))
    _OUT.clear()


bot = Bot("reply_buffer")
initial = bot.new_state("initial", initial=True)
menu = bot.new_state("menu")
hours = bot.new_state("hours")
helping = bot.new_state("helping")
menu_intent = bot.new_intent("menu", ["show the menu", "what do you serve", "food menu"])
hours_intent = bot.new_intent("hours", ["opening hours", "when are you open", "are you open"])
help_intent = bot.new_intent("help", ["help", "what can you do", "i need help"])


def menu_body(session: Session) -> None:
    say("Today: soup, lasagne, tiramisu.")
    flush(session)


def hours_body(session: Session) -> None:
    say("Open 12:00-22:00, closed on Mondays.")
    flush(session)


def helping_body(session: Session) -> None:
    say(f"Tip for {session.id}: try the lasagne.")  # BUG: buffered, never flushed
    session.reply("Ask me for the menu or our opening hours.")


initial.when_intent_matched_go_to(menu_intent, menu)
initial.when_intent_matched_go_to(hours_intent, hours)
initial.when_intent_matched_go_to(help_intent, helping)
initial.set_fallback_body(lambda session: session.reply("Say 'help'."))
menu.set_body(menu_body)
menu.go_to(initial)
hours.set_body(hours_body)
hours.go_to(initial)
helping.set_body(helping_body)
helping.go_to(initial)
