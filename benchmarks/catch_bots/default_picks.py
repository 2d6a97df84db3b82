"""Film shortlist: "add inception" puts a film on your shortlist and shows it.

Race (between turns: a mutable default argument): ``add_pick(film, picks=[])`` is called with
the default list, which Python creates once, when the function is defined. Every user's films
go into that one list: your shortlist (reply and session data) includes other users' films.
Alone you only ever see your own.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"

FILMS = ("inception", "alien", "amelie", "heat", "up")


def add_pick(film: str, picks: list[str] = []) -> list[str]:  # noqa: B006 - the bug shown
    picks.append(film)
    return list(picks)


bot = Bot("default_picks")
initial = bot.new_state("initial", initial=True)
adding = bot.new_state("adding")
add_intent = bot.new_intent(
    "add", ["add inception", "put alien on my list", "i want to see amelie", "add heat", "up"]
)


def adding_body(session: Session) -> None:
    text = (session.message or "").lower()
    film = next((name for name in FILMS if name in text), "up")
    picks = add_pick(film)
    session.set("picks", picks)
    session.reply(f"Your shortlist: {', '.join(picks)}")


initial.when_intent_matched_go_to(add_intent, adding)
initial.set_fallback_body(lambda session: session.reply("Name a film to add."))
adding.set_body(adding_body)
adding.go_to(initial)
