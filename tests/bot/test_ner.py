"""The entity recogniser (SimpleNER): custom and base entities, compared with BBF 1.5's rules."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import (
    Bot,
    Entity,
    Intent,
    Runtime,
    SimpleIntentClassifier,
    SimpleNER,
    any_entity,
    datetime_entity,
    fallback_intent,
    number_entity,
)
from runtime.bot._ner import entity_sentence
from runtime.properties import NLP_LANGUAGE

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MADRID)  # a Monday, before the DST change


def fixed_clock() -> datetime:
    return NOW


ner = SimpleNER(clock=fixed_clock)

CITY = Entity(
    "city_entity",
    entries={
        "Barcelona": ["BCN", "barna"],
        "New York": ["NYC", "big apple"],
        "Málaga": [],
        "York": [],
    },
)
WEATHER = Intent("weather", ["what is the weather in CITY?"]).parameter("city", "CITY", CITY)
TRIP = (
    Intent("trip", ["from ORIGIN to DEST"])
    .parameter("origin", "ORIGIN", CITY)
    .parameter("dest", "DEST", CITY)
)
PIZZA = Intent("pizza", ["NUM pizzas for DATE"])
PIZZA.parameter("count", "NUM", number_entity).parameter("when", "DATE", datetime_entity)
ADD = Intent("add", ["add A and B"]).parameter("a", "A", number_entity)
ADD.parameter("b", "B", number_entity)
WHEN = Intent("when", ["book for DATE"]).parameter("when", "DATE", datetime_entity)


def values(message: str, intent: Intent, recogniser: SimpleNER = ner) -> list[tuple[str, object]]:
    return [(p.name, p.value) for p in recogniser.recognise(message, intent).parameters]


# -- custom entities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "value", "sentence"),
    [
        ("weather in bcn", "Barcelona", "weather in CITY_ENTITY"),
        ("weather in BARNA?", "Barcelona", "weather in CITY_ENTITY?"),
        ("weather in Barcelonas", "Barcelona", "weather in CITY_ENTITY"),
        ("weather in malaga", "Málaga", "weather in CITY_ENTITY"),
        ("weather in MÁLAGA!", "Málaga", "weather in CITY_ENTITY!"),
        ("weather in the Big  Apple", "New York", "weather in the CITY_ENTITY"),
        # Longest first: "New York" is not read as "York".
        ("weather in new york", "New York", "weather in CITY_ENTITY"),
        ("weather in york", "York", "weather in CITY_ENTITY"),
        # Whole words only.
        ("weather in abcn", None, "weather in abcn"),
    ],
)
def test_custom_values_are_found_ignoring_case_accents_and_plurals(
    message: str, value: str | None, sentence: str
) -> None:
    recognised = ner.recognise(message, WEATHER)
    assert [(p.name, p.value, p.info) for p in recognised.parameters] == [("city", value, {})]
    assert recognised.sentence == sentence


def test_two_parameters_of_one_entity_take_the_values_in_message_order() -> None:
    assert values("from nyc to barna", TRIP) == [("origin", "New York"), ("dest", "Barcelona")]
    assert values("from Barcelona to new york", TRIP) == [
        ("origin", "Barcelona"),
        ("dest", "New York"),
    ]


def test_two_values_for_one_parameter_give_the_first_in_the_message() -> None:
    # BBF: the extra value stays in the sentence, not replaced by a placeholder.
    recognised = ner.recognise("weather in nyc or bcn", WEATHER)
    assert [p.value for p in recognised.parameters] == ["New York"]
    assert recognised.sentence == "weather in CITY_ENTITY or bcn"


def test_parameters_not_found_come_last_with_value_none() -> None:
    # BBF: found ones first (in the order found), then the declared ones not found.
    assert values("to bcn", TRIP) == [("origin", "Barcelona"), ("dest", None)]
    mixed = Intent("mixed", ["CITY in NUM days"]).parameter("city", "CITY", CITY)
    mixed.parameter("days", "NUM", number_entity)
    assert values("in 3 days", mixed) == [("days", "3"), ("city", None)]


def test_an_intent_without_parameters_leaves_the_message_as_it_is() -> None:
    recognised = ner.recognise("weather in bcn", Intent("plain", ["hello"]))
    assert recognised.sentence == "weather in bcn"
    assert recognised.parameters == []


def test_a_parameter_added_after_a_recognition_is_seen_by_the_next_one() -> None:
    intent = Intent("late", ["go to CITY"])
    assert ner.recognise("go to bcn", intent).parameters == []
    intent.parameter("city", "CITY", CITY)
    assert values("go to bcn", intent) == [("city", "Barcelona")]


def test_training_sentences_get_the_placeholders_the_messages_get() -> None:
    assert entity_sentence("from ORIGIN to DEST", TRIP) == "from CITY_ENTITY to CITY_ENTITY"
    assert entity_sentence("NUM pizzas for DATE", PIZZA) == "BASE.NUMBER pizzas for BASE.DATE-TIME"


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("add 2 and 3", [("a", "2"), ("b", "3")]),
        ("add -2 and +3", [("a", "-2"), ("b", "3")]),  # BBF keeps the sign, drops a plus
        ("add 3,5 and 1.25", [("a", "3.5"), ("b", "1.25")]),  # a decimal comma becomes a point
        ("add twenty one and three", [("a", "21"), ("b", "3")]),
        ("add two and three", [("a", "2"), ("b", "3")]),  # BBF's text2num 2.5 converts "two"
        ("add 7", [("a", "7"), ("b", None)]),
        ("add nothing", [("a", None), ("b", None)]),
    ],
)
def test_numbers_are_read_in_digits_or_words(
    message: str, expected: list[tuple[str, object]]
) -> None:
    assert values(message, ADD) == expected


def test_numbers_in_words_follow_the_language() -> None:
    spanish = SimpleNER("es", clock=fixed_clock)
    intent = Intent("n", ["quiero NUM"]).parameter("n", "NUM", number_entity)
    assert values("quiero veintiuno", intent, spanish) == [("n", "21")]
    assert values("quiero twenty", intent, spanish) == [("n", None)]


def test_a_language_text2num_does_not_know_still_reads_digits() -> None:
    unknown = SimpleNER("xx", clock=fixed_clock)
    assert values("add 7 and two", ADD, unknown) == [("a", "7"), ("b", None)]


def test_the_number_sentence_has_one_placeholder_per_number() -> None:
    recognised = ner.recognise("add -2 and 3.5", ADD)
    assert recognised.sentence == "add BASE.NUMBER and BASE.NUMBER"


# -- date-times -----------------------------------------------------------------------------


def info(given: str) -> dict[str, bool]:
    """The info parts from a mask such as "111000" (year, month, day, hour, minute, second)."""
    parts = ("year", "month", "day", "hour", "minute", "second")
    return {part: flag == "1" for part, flag in zip(parts, given, strict=True)}


@pytest.mark.parametrize(
    ("message", "value", "parts", "frag"),
    [
        # Relative: the unit named decides the parts (BBF's lists; "tomorrow": the day).
        ("tomorrow", "2025-03-11T12:00:00+01:00", info("111000"), "tomorrow"),
        ("in 2 hours", "2025-03-10T14:00:00+01:00", info("111100"), "in 2 hours"),
        ("in 5 minutes", "2025-03-10T12:05:00+01:00", info("111110"), "in 5 minutes"),
        ("in 30 seconds", "2025-03-10T12:00:30+01:00", info("111111"), "in 30 seconds"),
        ("in 2 months", "2025-05-10T12:00:00+02:00", info("110000"), "in 2 months"),
        ("in 3 years", "2028-03-10T12:00:00+01:00", info("100000"), "in 3 years"),
        # Absolute: the parts the message gives (time 00:00:00 means no time).
        ("3 March 2025", "2025-03-03T00:00:00+01:00", info("111000"), "3 March 2025"),
        (
            "3 March 2025 at 17:30",
            "2025-03-03T17:30:00+01:00",
            info("111111"),
            "3 March 2025 at 17:30",
        ),
        ("12/25", "2025-12-25T00:00:00+01:00", info("011000"), "12/25"),
    ],
)
def test_date_times_are_read_relative_to_the_clock_with_bbfs_info(
    message: str, value: str, parts: dict, frag: str
) -> None:
    recognised = ner.recognise(f"book for {message}", WHEN)
    [parameter] = recognised.parameters
    assert parameter.name == "when"
    assert parameter.value == value
    assert parameter.info == {**parts, "frag": frag}
    assert "BASE.DATE-TIME" in recognised.sentence
    assert frag not in recognised.sentence


def test_relative_dates_cross_daylight_saving_in_the_bots_time_zone() -> None:
    before_dst = SimpleNER(clock=lambda: datetime(2025, 3, 29, 12, 0, tzinfo=MADRID))
    [parameter] = before_dst.recognise("book for tomorrow", WHEN).parameters
    assert parameter.value == "2025-03-30T12:00:00+02:00"


def test_spanish_dates_read_day_first() -> None:
    spanish = SimpleNER("es", clock=fixed_clock)
    assert values("reserva para mañana", WHEN, spanish) == [("when", "2025-03-11T12:00:00+01:00")]
    assert values("reserva para el 05/04/2025", WHEN, spanish) == [
        ("when", "2025-04-05T00:00:00+02:00")
    ]


def test_a_date_time_is_found_before_the_numbers_it_holds() -> None:
    recognised = ner.recognise("3 pizzas for 5 April 2025", PIZZA)
    assert [(p.name, p.value) for p in recognised.parameters] == [
        ("when", "2025-04-05T00:00:00+02:00"),
        ("count", "3"),
    ]
    assert recognised.sentence == "BASE.NUMBER pizzas for BASE.DATE-TIME"


def test_a_number_in_words_beside_a_relative_date_time() -> None:
    assert values("two pizzas for tomorrow at 8pm", PIZZA) == [
        ("when", "2025-03-11T20:00:00+01:00"),
        ("count", "2"),
    ]


def test_no_date_time_gives_none() -> None:
    assert values("book for whenever", WHEN) == [("when", None)]


# -- free text (base.any) -------------------------------------------------------------------

NAME = Intent("name", ["my name is NAME", "call me NAME please"])
NAME.parameter("name", "NAME", any_entity)


@pytest.mark.parametrize(
    ("message", "value", "sentence"),
    [
        ("my name is John Smith", "John Smith", "my name is BASE.ANY"),
        ("  Call me Bob please!", "Bob", "  Call me BASE.ANY please!"),
        # The value is replaced where it stands, not where its text first occurs.
        ("my name is Name", "Name", "my name is BASE.ANY"),
        ("hello there", None, "hello there"),
    ],
)
def test_free_text_is_what_stands_where_the_fragment_does(
    message: str, value: str | None, sentence: str
) -> None:
    recognised = ner.recognise(message, NAME)
    assert [(p.name, p.value) for p in recognised.parameters] == [("name", value)]
    assert recognised.sentence == sentence


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"language": "english"}, "ISO 639-1"),
        ({"language": "EN"}, "ISO 639-1"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"timezone": ""}, "IANA time zone"),
    ],
)
def test_a_bad_language_or_time_zone_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimpleNER(**kwargs)


# -- properties -----------------------------------------------------------------------------

SYNONYMS = [s for entry in CITY.entries or () for s in (entry.value, *entry.synonyms)]
MAIN_VALUE = {
    s: entry.value for entry in CITY.entries or () for s in (entry.value, *entry.synonyms)
}
WORDS = st.sampled_from(["the", "weather", "in", "please", "today", "what", "about", "is"])


@st.composite
def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flips, strict=True))


@given(
    before=st.lists(WORDS, max_size=4),
    after=st.lists(WORDS, max_size=4),
    synonym=st.sampled_from(SYNONYMS),
    data=st.data(),
)
def test_a_synonym_in_any_case_in_any_sentence_gives_its_main_value(
    before: list[str], after: list[str], synonym: str, data: st.DataObject
) -> None:
    typed = data.draw(random_case(synonym))
    message = " ".join([*before, typed, *after])
    recognised = ner.recognise(message, WEATHER)
    assert [(p.name, p.value) for p in recognised.parameters] == [("city", MAIN_VALUE[synonym])]
    # The entity sentence is the message with the typed text (and only it) replaced.
    assert recognised.sentence == " ".join([*before, "CITY_ENTITY", *after])
    assert not re.search(rf"(?i)\b{re.escape(typed)}\b", recognised.sentence)


INTENTS = [WEATHER, TRIP, PIZZA, ADD, WHEN, NAME]


@given(
    intent=st.sampled_from(INTENTS),
    message=st.lists(
        st.sampled_from([*"abcnyk 0123-+.,/", "bcn ", "nyc ", "two ", "for ", "tomorrow "]),
        max_size=12,
    ).map("".join),
)
def test_every_declared_parameter_is_reported_exactly_once(intent: Intent, message: str) -> None:
    parameters = ner.recognise(message, intent).parameters
    assert sorted(p.name for p in parameters) == sorted(p.name for p in intent.parameters)
    found = [p.value is not None for p in parameters]
    assert found == sorted(found, reverse=True)  # found ones first, then the None ones


@given(
    message=st.lists(
        st.sampled_from(["from", "to", "bcn", "nyc", "3", "pizzas", "for", "tomorrow", "add"]),
        max_size=8,
    ).map(" ".join)
)
def test_the_classifier_reports_each_parameter_of_the_predicted_intent_once(message: str) -> None:
    prediction = SimpleIntentClassifier(ner=ner).predict(message, [TRIP, PIZZA, ADD])
    declared = sorted(p.name for p in prediction.intent.parameters)
    assert sorted(p.name for p in prediction.matched_parameters) == declared
    assert prediction.intent is not fallback_intent or prediction.matched_parameters == []


def test_free_text_is_found_in_linear_time_and_without_placeholders() -> None:
    from runtime.bot._ner import _free_text  # noqa: PLC0415 - the matcher itself, uncapped

    bot = Bot("free")
    city = bot.new_entity("city_entity", entries={"Madrid": [], "Barcelona": ["bcn"]})
    intent = bot.new_intent("call", ["call me NAME", "fly from CITY"])
    intent.parameter("name", "NAME", any_entity).parameter("city", "CITY", city)
    # A backtracking pattern took minutes on a few thousand spaces; this is one pass.
    huge = "call me " + " " * 200_000 + "x"
    assert _free_text(huge, intent, intent.parameters[0]) == (len(huge) - 1, len(huge))
    found = SimpleNER().recognise("call me from madrid to bcn", intent).parameters
    assert [(p.name, p.value) for p in found] == [
        ("city", "Madrid"),
        ("name", "from Madrid to bcn"),
    ]


def test_a_classifier_shared_by_two_bots_reads_each_bot_s_language() -> None:
    shared = SimpleIntentClassifier()
    answers = {}
    for language, text in (("en", "i want two pizzas"), ("es", "quiero dos pizzas")):
        bot = Bot(f"pizza-{language}", classifier=shared)
        bot.set_property(NLP_LANGUAGE, language)
        start = bot.new_state("start", initial=True)
        order = bot.new_state("order")
        intent = bot.new_intent("order", ["i want N pizzas", "quiero N pizzas"])
        intent.parameter("n", "N", number_entity)
        start.when_intent_matched_go_to(intent, order)
        order.set_body(lambda s: s.reply(str(s.predicted_intent.get_parameter("n").value)))
        order.go_to(start)
        with Runtime(bot) as runtime:
            answers[language] = runtime.send_message("u", text).result(10)
    assert answers == {"en": ["2"], "es": ["2"]}
