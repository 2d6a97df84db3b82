"""Multilingual greeter: tell it your name, then ask to be greeted in French or Spanish.

Race (between turns): greetings are cached in ``_GREETINGS`` keyed by the language only, but
the cached text contains the name of the user who asked first. Every later user greeted in that
language is called by the first user's name. Alone you always get your own name. A user
notices being greeted as somebody else.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"

HELLO = {"fr": "Bonjour", "es": "Hola"}
_GREETINGS: dict[str, str] = {}  # BUG: keyed by language, but the value holds a user's name

bot = Bot("greeting_cache")
initial = bot.new_state("initial", initial=True)
naming = bot.new_state("naming")
french = bot.new_state("french")
spanish = bot.new_state("spanish")
name_intent = bot.new_intent(
    "name", ["my name is alice", "call me bob", "i am carol", "my name is dave"]
)
french_intent = bot.new_intent("french", ["greet me in french", "say hello in french"])
spanish_intent = bot.new_intent("spanish", ["greet me in spanish", "say hello in spanish"])


def naming_body(session: Session) -> None:
    words = (session.message or "").split()
    name = words[-1].strip("!?.").title() if words else "Friend"
    session.set("name", name)
    session.reply(f"Nice to meet you, {name}.")


def greet(session: Session, language: str) -> None:
    text = _GREETINGS.get(language)
    if text is None:  # built once per language, from whoever asks first
        text = _GREETINGS[language] = f"{HELLO[language]}, {session.get('name') or 'ami'}!"
    session.reply(text)


initial.when_intent_matched_go_to(name_intent, naming)
initial.when_intent_matched_go_to(french_intent, french)
initial.when_intent_matched_go_to(spanish_intent, spanish)
initial.set_fallback_body(lambda session: session.reply("Tell me your name."))
naming.set_body(naming_body)
naming.go_to(initial)
french.set_body(lambda session: greet(session, "fr"))
french.go_to(initial)
spanish.set_body(lambda session: greet(session, "es"))
spanish.go_to(initial)
