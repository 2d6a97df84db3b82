"""Reminders: "remind me to call mum" keeps a reminder; "anything new" delivers due reminders.

Race (a session kept in a global): the reminder body appends the *session object* and the text
to the module-level ``_DUE`` list; "anything new" delivers every due reminder through the
stashed sessions. Alone the only stashed session is your own and it works in your next turn.
With other users, "anything new" reaches sessions of other users, which this runtime refuses
(``SessionAccessError``): the body fails, your answer goes missing, and the reminders are lost.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "stashed session"

_DUE: list[tuple[Session, str]] = []  # BUG: keeps sessions past their turn

bot = Bot("reminder_stash")
initial = bot.new_state("initial", initial=True)
remind = bot.new_state("remind")
news = bot.new_state("news")
remind_intent = bot.new_intent(
    "remind", ["remind me to call mum", "remind me to buy milk", "set a reminder"]
)
news_intent = bot.new_intent("news", ["anything new", "any reminders", "what is due"])


def remind_body(session: Session) -> None:
    text = (session.message or "").removeprefix("remind me to").strip() or "something"
    _DUE.append((session, text))
    session.reply("I'll remind you.")


def news_body(session: Session) -> None:
    if not _DUE:
        session.reply("Nothing new.")
        return
    for owner, text in _DUE:
        owner.reply(f"Reminder: {text}")  # another user's session raises SessionAccessError
    _DUE.clear()


initial.when_intent_matched_go_to(remind_intent, remind)
initial.when_intent_matched_go_to(news_intent, news)
initial.set_fallback_body(lambda session: session.reply("Ask me to remind you."))
remind.set_body(remind_body)
remind.go_to(initial)
news.set_body(news_body)
news.go_to(initial)
