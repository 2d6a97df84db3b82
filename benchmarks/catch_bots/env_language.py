"""Greeter with a language switch: "speak french" / "speak english", then "hello".

Race (process-wide state): the language switch writes ``os.environ["CATCH_BOT_LANGUAGE"]``
(the author took the environment for per-user configuration) and "hello" reads it in a later
turn. The environment belongs to the whole process: one user's "speak french" makes everyone
greeted in French, and it outlives the bot module (a fresh copy of the bot does not reset it).
A user notices being answered in a language they never chose.
"""

from __future__ import annotations

import os

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "process-wide"

VARIABLE = "CATCH_BOT_LANGUAGE"
GREETINGS = {"en": "Hello!", "fr": "Bonjour !"}

bot = Bot("env_language")
initial = bot.new_state("initial", initial=True)
french = bot.new_state("french")
english = bot.new_state("english")
hello = bot.new_state("hello")
french_intent = bot.new_intent("french", ["speak french", "in french please", "parle francais"])
english_intent = bot.new_intent("english", ["speak english", "in english please"])
hello_intent = bot.new_intent("hello", ["hello", "hi there", "good morning"])


def set_language(session: Session, language: str) -> None:
    os.environ[VARIABLE] = language  # BUG: process-wide, not per user
    session.set("language_changes", (session.get("language_changes") or 0) + 1)
    session.reply("OK.")


def hello_body(session: Session) -> None:
    session.reply(GREETINGS[os.environ.get(VARIABLE, "en")])


initial.when_intent_matched_go_to(french_intent, french)
initial.when_intent_matched_go_to(english_intent, english)
initial.when_intent_matched_go_to(hello_intent, hello)
initial.set_fallback_body(lambda session: session.reply("Say hello."))
french.set_body(lambda session: set_language(session, "fr"))
french.go_to(initial)
english.set_body(lambda session: set_language(session, "en"))
english.go_to(initial)
hello.set_body(hello_body)
hello.go_to(initial)
