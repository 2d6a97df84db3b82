"""Racy: each user's basket is kept in a module-level dict keyed by the state's name.

The author meant ``BASKETS[session.id]``; every user in the same state shares one basket.
"""

from __future__ import annotations

from runtime import Bot, Session

BASKETS: dict[str, list[str]] = {}

bot = Bot("wrong_key")
initial = bot.new_state("initial", initial=True)
adding = bot.new_state("adding")
showing = bot.new_state("showing")
add_intent = bot.new_intent("add", ["add an apple", "put a pear in", "buy bread"])
show_intent = bot.new_intent("show", ["show my basket", "what is in my basket"])


def adding_body(session: Session) -> None:
    basket = BASKETS.setdefault(session.current_state.name, [])  # BUG: the wrong key
    basket.append(session.message or "")
    session.reply(f"{len(basket)} item(s) in your basket")


def showing_body(session: Session) -> None:
    basket = BASKETS.get("adding", [])
    session.reply(f"Your basket: {', '.join(basket) or 'empty'}")


initial.when_intent_matched_go_to(add_intent, adding)
initial.when_intent_matched_go_to(show_intent, showing)
adding.set_body(adding_body)
adding.go_to(initial)
showing.set_body(showing_body)
showing.go_to(initial)
