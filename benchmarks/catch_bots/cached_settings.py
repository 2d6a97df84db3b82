"""Settings: "newsletter off", "dark mode", "show my settings".

Race (between turns: ``functools.lru_cache`` over shared data): ``default_settings(plan)`` is
cached, so every caller gets *the same dict*. The bodies start from it when a user has no
settings yet and change it in place: the first user's "dark mode" turns the cached defaults
dark, and every later user starts from them. Alone your settings are the defaults plus your
own changes; with others you see (and store) their changes too.
"""

from __future__ import annotations

import functools
from typing import Any

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"


@functools.lru_cache(maxsize=8)
def default_settings(plan: str) -> dict[str, Any]:
    return {"plan": plan, "newsletter": True, "theme": "light"}


def settings_of(session: Session) -> dict[str, Any]:
    # BUG: the cached dict itself is changed and stored, not a copy of it
    return session.get("settings") or default_settings("free")


bot = Bot("cached_settings")
initial = bot.new_state("initial", initial=True)
newsletter = bot.new_state("newsletter")
dark = bot.new_state("dark")
show = bot.new_state("show")
newsletter_intent = bot.new_intent(
    "newsletter", ["newsletter off", "stop the newsletter", "no more emails"]
)
dark_intent = bot.new_intent("dark", ["dark mode", "use the dark theme", "make it dark"])
show_intent = bot.new_intent("show", ["show my settings", "what are my settings"])


def change(session: Session, key: str, value: object) -> None:
    settings = settings_of(session)
    settings[key] = value
    session.set("settings", settings)
    session.reply("Saved.")


def show_body(session: Session) -> None:
    settings = settings_of(session)
    session.reply(f"newsletter: {settings['newsletter']}, theme: {settings['theme']}")


initial.when_intent_matched_go_to(newsletter_intent, newsletter)
initial.when_intent_matched_go_to(dark_intent, dark)
initial.when_intent_matched_go_to(show_intent, show)
initial.set_fallback_body(lambda session: session.reply("Say 'show my settings'."))
newsletter.set_body(lambda session: change(session, "newsletter", False))
newsletter.go_to(initial)
dark.set_body(lambda session: change(session, "theme", "dark"))
dark.go_to(initial)
show.set_body(show_body)
show.go_to(initial)
