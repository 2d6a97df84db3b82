"""Weather: "weather in paris" gives the forecast of the city you name.

Race (inside a turn): the body puts the city in the module-level ``_CITY``, waits for the
weather service (here ``threading.Event().wait(0.0001)``, as an HTTP call with a timeout
would), then answers for ``_CITY`` and remembers it in the session. Another user's question
answered during the wait overwrites the city: you get the forecast for *their* city, and your
session's ``last_city`` is wrong too. Between turns the global is always written first.
"""

# ruff: noqa: PLW0603 (the global statement is the bug this bot exists to show)

from __future__ import annotations

import threading

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "inside a turn"

CITIES = ("paris", "london", "rome", "oslo", "lisbon")
FORECASTS = ("sunny", "rainy", "windy", "cloudy", "snowy")
_CITY = ""  # BUG: the city being looked up, shared by every turn in flight

bot = Bot("weather_wait")
initial = bot.new_state("initial", initial=True)
weather = bot.new_state("weather")
weather_intent = bot.new_intent(
    "weather",
    ["weather in paris", "forecast for london", "is it raining in rome", "weather in oslo"],
)


def weather_body(session: Session) -> None:
    global _CITY
    words = (session.message or "").lower().split()
    _CITY = next((city for city in CITIES if any(city in word for word in words)), "lisbon")
    threading.Event().wait(0.0001)  # the weather service's round trip
    session.set("last_city", _CITY)
    session.reply(f"{_CITY.title()}: {FORECASTS[CITIES.index(_CITY)]}")


initial.when_intent_matched_go_to(weather_intent, weather)
initial.set_fallback_body(lambda session: session.reply("Ask me about the weather in a city."))
weather.set_body(weather_body)
weather.go_to(initial)
