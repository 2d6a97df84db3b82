"""BBF 1.5's bot model end to end through the Runtime: entities, parameters, global states,
properties, custom classifiers, and parameters kept across a restart on SQLite."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runtime import (
    Bot,
    Intent,
    IntentClassifierPrediction,
    MatchedParameter,
    Runtime,
    Session,
    SimpleIntentClassifier,
    SimpleNER,
    datetime_entity,
    fallback_intent,
    number_entity,
)
from runtime.bot._global import PREV_STATE
from runtime.properties import NLP_LANGUAGE
from runtime.store import open_store

TIMEOUT = 5


def fixed_clock() -> datetime:
    return datetime(2025, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Madrid"))


def say(rt: Runtime, text: str, session_id: str = "alice") -> list[str]:
    return list(rt.send_message(session_id, text).result(timeout=TIMEOUT))


def weather_bot() -> Bot:
    bot = Bot("weather_bot")
    initial = bot.new_state("initial", initial=True)
    weather = bot.new_state("weather")
    city = bot.new_entity("city_entity", entries={"Barcelona": ["BCN", "barna"], "Madrid": ["MAD"]})
    weather_intent = bot.new_intent(
        "weather_intent", ["what is the weather in CITY?", "weather in CITY"]
    )
    weather_intent.parameter("city", "CITY", city)
    hello = bot.new_intent("hello_intent", ["hello", "hi"])

    def initial_body(session: Session) -> None:
        session.reply("Ask me about the weather")

    def weather_body(session: Session) -> None:
        prediction = session.predicted_intent
        assert prediction is not None
        parameter = prediction.get_parameter("city")
        if parameter is None or parameter.value is None:
            session.reply("Which city?")
        else:
            session.reply(f"It is sunny in {parameter.value}")

    def recall(session: Session, params: dict[str, Any]) -> bool:
        return session.event is not None and session.event.name == "recall"

    def recall_body(session: Session) -> None:
        prediction = session.predicted_intent
        assert prediction is not None
        session.reply(f"{prediction.intent.name}: {prediction.matched_parameters}")

    recalled = bot.new_state("recalled")
    initial.set_body(initial_body)
    initial.when_intent_matched_go_to(weather_intent, weather)
    initial.when_intent_matched_go_to(hello, initial)
    weather.set_body(weather_body)
    weather.when_event_go_to(recall, recalled)
    weather.when_intent_matched_go_to(weather_intent, weather)
    recalled.set_body(recall_body)
    recalled.go_to(initial)
    return bot


def test_the_weather_bot_answers_with_the_city_parameter() -> None:
    with Runtime(weather_bot()) as rt:
        rt.open_session("alice").result(timeout=TIMEOUT)
        assert say(rt, "What is the weather in BCN?") == ["It is sunny in Barcelona"]
        assert say(rt, "weather in mad") == ["It is sunny in Madrid"]
        assert say(rt, "weather in Paris") == ["Which city?"]
        assert rt.stats().classifier_errors == 0


def test_matched_parameters_survive_a_restart_on_sqlite(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "s.db")
    with Runtime(weather_bot(), store=url) as rt:
        assert say(rt, "weather in barna") == [
            "Ask me about the weather",
            "It is sunny in Barcelona",
        ]
    store = open_store(url)
    try:
        record = store.load("alice")
    finally:
        store.close()
    assert record is not None
    assert record.predicted_intent is not None
    assert record.predicted_intent.matched_parameters == [MatchedParameter("city", "Barcelona")]
    # A new runtime (and a new bot object) reads them back as MatchedParameter objects.
    with Runtime(weather_bot(), store=url) as rt:
        snapshot = rt.snapshot("alice")
        assert snapshot is not None
        assert snapshot.state == "weather"
        replies = rt.send_event("alice", "recall").result(timeout=TIMEOUT)
        assert list(replies) == [
            "weather_intent: [MatchedParameter(name='city', value='Barcelona', info={})]",
            "Ask me about the weather",
        ]


def pizza_bot(clock: Any = fixed_clock) -> Bot:
    """Numbers and date-times: a per-state classifier whose recogniser has a fixed clock."""
    bot = Bot("pizza_bot")
    fixed = SimpleIntentClassifier(ner=SimpleNER(clock=clock))
    initial = bot.new_state("initial", initial=True, ic_config=fixed)
    ordered = bot.new_state("ordered")
    order = bot.new_intent("order_intent", ["I want NUM pizzas for DATE", "NUM pizzas DATE"])
    order.parameter("count", "NUM", number_entity).parameter("when", "DATE", datetime_entity)

    def ordered_body(session: Session) -> None:
        prediction = session.predicted_intent
        assert prediction is not None
        count, when = prediction.get_parameter("count"), prediction.get_parameter("when")
        assert count is not None
        assert when is not None
        session.reply(f"{count.value} pizzas at {when.value} ({when.info.get('frag')})")

    initial.when_intent_matched_go_to(order, ordered)
    ordered.set_body(ordered_body)
    ordered.go_to(initial)
    return bot


def test_the_pizza_bot_reads_numbers_and_date_times() -> None:
    with Runtime(pizza_bot()) as rt:
        rt.open_session("alice").result(timeout=TIMEOUT)
        assert say(rt, "I want twenty one pizzas for tomorrow at 8pm") == [
            "21 pizzas at 2025-03-11T20:00:00+01:00 (tomorrow at 8pm)"
        ]
        assert say(rt, "3 pizzas 5 April 2025") == [
            "3 pizzas at 2025-04-05T00:00:00+02:00 (5 April 2025)"
        ]


def test_date_time_info_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "s.db")
    with Runtime(pizza_bot(), store=url) as rt:
        rt.open_session("alice").result(timeout=TIMEOUT)
        assert say(rt, "2 pizzas in 5 minutes") == [
            "2 pizzas at 2025-03-10T12:05:00+01:00 (in 5 minutes)"
        ]
    store = open_store(url)
    try:
        record = store.load("alice")
    finally:
        store.close()
    assert record is not None
    assert record.predicted_intent is not None
    assert record.predicted_intent.matched_parameters == [
        MatchedParameter(
            "when",
            "2025-03-10T12:05:00+01:00",
            {
                "year": True,
                "month": True,
                "day": True,
                "hour": True,
                "minute": True,
                "second": False,
                "frag": "in 5 minutes",
            },
        ),
        MatchedParameter("count", "2"),
    ]


def global_bot() -> Bot:
    bot = Bot("global_bot")
    start = bot.new_state("start", initial=True)
    menu = bot.new_state("menu")
    help_state = bot.new_state("help")
    hello = bot.new_intent("hello", ["hello"])
    help_intent = bot.new_intent("help_intent", ["help", "I need help"])

    def named(text: str) -> Any:
        def body(session: Session) -> None:
            session.reply(f"{text} (from {session.get(PREV_STATE)})")

        return body

    start.set_body(named("start"))
    menu.set_body(named("menu"))
    help_state.set_body(named("help"))
    start.when_intent_matched_go_to(hello, menu)
    menu.when_intent_matched_go_to(hello, start)
    help_state.set_global(help_intent)
    return bot


def test_a_global_state_round_trip_through_the_runtime() -> None:
    with Runtime(global_bot()) as rt:
        assert say(rt, "hello") == ["start (from None)", "menu (from None)"]
        assert say(rt, "I need help") == ["help (from menu)", "menu (from menu)"]
        snapshot = rt.snapshot("alice")
        assert snapshot is not None
        assert (snapshot.state, snapshot.data[PREV_STATE]) == ("menu", "menu")
        assert say(rt, "hello") == ["start (from menu)"]
        assert say(rt, "help") == ["help (from start)", "start (from start)"]


class NoParameters:
    """A custom classifier that predicts the first intent and leaves its parameters empty."""

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        return IntentClassifierPrediction(intents[0], 1.0, "")


def test_the_engine_fills_the_parameters_a_custom_classifier_leaves_empty() -> None:
    bot = weather_bot()
    bot.set_classifier(NoParameters())
    with Runtime(bot) as rt:
        rt.open_session("alice").result(timeout=TIMEOUT)
        assert say(rt, "tell me about bcn") == ["It is sunny in Barcelona"]
        assert rt.stats().classifier_errors == 0


def test_the_engine_fills_parameters_with_the_bots_language() -> None:
    bot = Bot("es")
    bot.set_property(NLP_LANGUAGE, "es")
    start = bot.new_state("start", initial=True)
    order = bot.new_intent("pedido", ["quiero NUM pizzas"])
    order.parameter("n", "NUM", number_entity)

    def answer(session: Session) -> None:
        prediction = session.predicted_intent
        assert prediction is not None
        session.reply(repr([(p.name, p.value) for p in prediction.matched_parameters]))

    done = bot.new_state("done", ic_config=NoParameters())
    start.when_intent_matched_go_to(order, done)
    done.set_body(answer)
    done.when_intent_matched_go_to(order, done)
    with Runtime(bot) as rt:
        assert say(rt, "quiero veintiuna pizzas") == ["[('n', '21')]"]  # built-in classifier
        assert say(rt, "dame cinco") == ["[('n', '5')]"]  # custom one, filled by bot.ner


class Malformed:
    """A custom classifier whose matched_parameters are not MatchedParameter objects."""

    def __init__(self, parameters: Any) -> None:
        self.parameters = parameters

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        return IntentClassifierPrediction(intents[0], 1.0, "", self.parameters)


def test_malformed_matched_parameters_are_a_classifier_error_not_a_crash() -> None:
    for parameters in ({"city": "Barcelona"}, ["Barcelona"], [MatchedParameter("c", "v", None)]):
        bot = weather_bot()
        bot.set_classifier(Malformed(parameters))
        fell_back: list[object] = []

        def fallback(session: Session, fell_back: list[object] = fell_back) -> None:
            prediction = session.predicted_intent
            fell_back.append(prediction.intent if prediction else None)
            session.reply("fallback")

        bot.set_global_fallback_body(fallback)
        with Runtime(bot) as rt:
            assert say(rt, "weather in bcn") == ["Ask me about the weather", "fallback"]
            assert rt.stats().classifier_errors == 1
            assert rt.snapshot("alice").state == "initial"  # type: ignore[union-attr]
        assert fell_back == [fallback_intent]


def test_serve_help_names_the_websocket_properties() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "websocket.host property if set, else 127.0.0.1" in text
    assert "websocket.port property if set, else 8000" in text
