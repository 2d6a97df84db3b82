"""Drinks: "i like tea" remembers your favourite drink; "what do i like" recalls it.

Race (needs three users): favourites live in a two-slot, least-recently-used module-level
cache, ``_PREFS``, used as if it were storage. One or two users never notice: both fit. With a
third user setting a favourite between your "i like tea" and your "what do i like", your entry
is evicted and the bot has forgotten you ("I don't know yet"). Alone it always remembers.
"""

from __future__ import annotations

from collections import OrderedDict

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "three users"

DRINKS = ("tea", "coffee", "juice", "cocoa")
_SLOTS = 2
_PREFS: OrderedDict[str, str] = OrderedDict()  # BUG: a cache used as the only copy

bot = Bot("recent_prefs")
initial = bot.new_state("initial", initial=True)
like = bot.new_state("like")
recall = bot.new_state("recall")
like_intent = bot.new_intent(
    "like", ["i like tea", "i prefer coffee", "my favourite is juice", "i love cocoa"]
)
recall_intent = bot.new_intent(
    "recall", ["what do i like", "what is my favourite", "remind me what i prefer"]
)


def like_body(session: Session) -> None:
    text = (session.message or "").lower()
    drink = next((name for name in DRINKS if name in text), "water")
    _PREFS[session.id] = drink
    _PREFS.move_to_end(session.id)
    while len(_PREFS) > _SLOTS:
        _PREFS.popitem(last=False)
    session.reply(f"Noted: {drink}.")


def recall_body(session: Session) -> None:
    drink = _PREFS.get(session.id)
    if drink is None:
        session.reply("I don't know yet. Tell me what you like.")
        return
    _PREFS.move_to_end(session.id)
    session.reply(f"You like {drink}.")


initial.when_intent_matched_go_to(like_intent, like)
initial.when_intent_matched_go_to(recall_intent, recall)
initial.set_fallback_body(lambda session: session.reply("Tell me what you like to drink."))
like.set_body(like_body)
like.go_to(initial)
recall.set_body(recall_body)
recall.go_to(initial)
