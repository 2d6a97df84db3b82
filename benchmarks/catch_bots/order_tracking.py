"""Order tracking: "track my order" looks up your order; "when will it arrive" gives its date.

Race (between turns): the tracking body keeps the order it looked up in a module-level
``LAST_ORDER`` and the arrival body reads that global instead of the session. When another user
tracks their order between your "track my order" and your "when will it arrive", you are told
the delivery day of *their* order (and before you track anything you get someone's order
instead of "which order?"). A user notices a wrong order number in the answer.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
LAST_ORDER: int | None = None  # BUG: the last order anyone tracked; belongs in the session


def order_number(session_id: str) -> int:
    """Return the customer's order number (a stand-in for a database lookup)."""
    return 1000 + sum(ord(char) * (place + 1) for place, char in enumerate(session_id)) % 9000


bot = Bot("order_tracking")
initial = bot.new_state("initial", initial=True)
track = bot.new_state("track")
eta = bot.new_state("eta")
track_intent = bot.new_intent(
    "track", ["track my order", "where is my parcel", "order status", "find my package"]
)
eta_intent = bot.new_intent(
    "eta", ["when will it arrive", "delivery date", "how long until delivery"]
)


def track_body(session: Session) -> None:
    global LAST_ORDER
    LAST_ORDER = order_number(session.id)
    session.set("tracked", (session.get("tracked") or 0) + 1)
    session.reply(f"Order {LAST_ORDER} has left the warehouse.")


def eta_body(session: Session) -> None:
    if LAST_ORDER is None:
        session.reply("Which order? Say 'track my order' first.")
        return
    session.reply(f"Order {LAST_ORDER} arrives on {DAYS[LAST_ORDER % len(DAYS)]}.")


initial.when_intent_matched_go_to(track_intent, track)
initial.when_intent_matched_go_to(eta_intent, eta)
initial.set_fallback_body(lambda session: session.reply("Ask me to track your order."))
track.set_body(track_body)
track.go_to(initial)
eta.set_body(eta_body)
eta.go_to(initial)
