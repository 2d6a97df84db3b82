"""Shop: "add a coffee" puts an item in your cart; "check out" tells you the total with tax.

Race (inside a turn): the checkout body sums the cart into a module-level scratch dict,
``_RUNNING["subtotal"]``: it resets it, then reads, adds and writes it back once per item. When
two checkouts overlap, one resets or adds into the other's sum mid-loop: you are charged for
someone else's items, or for fewer than yours. Between turns it is always reset before use, so
only overlapping checkouts show it. A user notices a wrong total.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "inside a turn"

PRICES = {"coffee": 250, "tea": 200, "cake": 400, "bagel": 300}
_RUNNING = {"subtotal": 0}  # BUG: module-level scratch space for a per-turn sum

bot = Bot("checkout_subtotal")
initial = bot.new_state("initial", initial=True)
adding = bot.new_state("adding")
checkout = bot.new_state("checkout")
add_intent = bot.new_intent(
    "add", ["add a coffee", "add a tea", "add some cake", "a bagel please", "one more coffee"]
)
checkout_intent = bot.new_intent("checkout", ["check out", "what is my total", "total please"])


def adding_body(session: Session) -> None:
    words = (session.message or "").lower()
    item = next((name for name in PRICES if name in words), "coffee")
    session.set("cart", [*(session.get("cart") or []), item])
    session.reply(f"Added a {item}.")


def checkout_body(session: Session) -> None:
    _RUNNING["subtotal"] = 0
    for item in session.get("cart") or []:
        with_tax = round(PRICES[item] * 1.1)
        _RUNNING["subtotal"] = _RUNNING["subtotal"] + with_tax
    total = _RUNNING["subtotal"]
    session.set("paid", total)
    session.reply(f"Your total is {total / 100:.2f} EUR.")


initial.when_intent_matched_go_to(add_intent, adding)
initial.when_intent_matched_go_to(checkout_intent, checkout)
initial.set_fallback_body(lambda session: session.reply("Add something to your cart."))
adding.set_body(adding_body)
adding.go_to(initial)
checkout.set_body(checkout_body)
checkout.go_to(initial)
