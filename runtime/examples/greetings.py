"""The BBF greetings bot: say hello, then tell it how you feel.

Chat with it::

    python -m runtime chat runtime/examples/greetings.py
    you> hi
    bot> Hi! How are you?
    you> great
    bot> I am glad to hear that!
"""

from __future__ import annotations

from runtime import Bot, Session

bot = Bot("greetings")

initial = bot.new_state("initial", initial=True)
hello = bot.new_state("hello")
good = bot.new_state("good")
bad = bot.new_state("bad")

hello_intent = bot.new_intent("hello_intent", ["hello", "hi"])
# The negations are not in BBF's example: without them the word-overlap classifier reads
# "not good" as good_intent and "not bad" as bad_intent.
good_intent = bot.new_intent("good_intent", ["good", "fine", "great", "not bad"])
bad_intent = bot.new_intent("bad_intent", ["bad", "awful", "sad", "not good", "not great"])


def hello_body(session: Session) -> None:
    """Greet the user and ask how they are."""
    session.reply("Hi! How are you?")


def good_body(session: Session) -> None:
    """Rejoice with the user."""
    session.reply("I am glad to hear that!")


def bad_body(session: Session) -> None:
    """Comfort the user."""
    session.reply("I'm sorry to hear that...")


initial.when_intent_matched_go_to(hello_intent, hello)

hello.set_body(hello_body)
hello.when_intent_matched_go_to(good_intent, good)
hello.when_intent_matched_go_to(bad_intent, bad)

good.set_body(good_body)
good.go_to(initial)

bad.set_body(bad_body)
bad.go_to(initial)
