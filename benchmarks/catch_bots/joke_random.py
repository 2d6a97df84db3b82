"""Jokes: "hello" starts a session; "tell me a joke" tells one, "another one" the next.

Race (process-wide state: the global ``random``): to give each user a reproducible run of
jokes, "hello" calls ``random.seed(session.id)`` and the joke bodies draw with
``random.choice``. The module-level generator of ``random`` is one per process: other users
reseed it and draw from it between your turns, so your jokes are not the ones you would get
alone (and the jokes you were told, kept in session data, differ too).
"""

from __future__ import annotations

import random

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "process-wide"

JOKES = (
    "I told my wife she draws her eyebrows too high. She looked surprised.",
    "Why do cows wear bells? Their horns don't work.",
    "I'm reading a book on anti-gravity. I can't put it down.",
    "Parallel lines have so much in common. Too bad they'll never meet.",
    "Why did the scarecrow win an award? He was outstanding in his field.",
    "I used to play piano by ear. Now I use my hands.",
)

bot = Bot("joke_random")
initial = bot.new_state("initial", initial=True)
hello = bot.new_state("hello")
joke = bot.new_state("joke")
hello_intent = bot.new_intent("hello", ["hello", "hi there", "good evening"])
joke_intent = bot.new_intent(
    "joke", ["tell me a joke", "another one", "make me laugh", "say something funny"]
)


def hello_body(session: Session) -> None:
    random.seed(session.id)  # BUG: seeds the process-wide generator
    session.reply("Hi! Want a joke?")


def joke_body(session: Session) -> None:
    told = random.choice(range(len(JOKES)))
    session.set("told", [*(session.get("told") or []), told])
    session.reply(JOKES[told])


initial.when_intent_matched_go_to(hello_intent, hello)
initial.when_intent_matched_go_to(joke_intent, joke)
initial.set_fallback_body(lambda session: session.reply("Ask me for a joke."))
hello.set_body(hello_body)
hello.go_to(initial)
joke.set_body(joke_body)
joke.go_to(initial)
