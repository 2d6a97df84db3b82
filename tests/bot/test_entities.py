"""Entities, intent parameters and matched parameters: how a bot declares what to extract."""

from __future__ import annotations

import pytest

from runtime import (
    Bot,
    BotFrozenError,
    Entity,
    IntentClassifierPrediction,
    IntentParameter,
    MatchedParameter,
    any_entity,
    datetime_entity,
    number_entity,
)
from runtime.bot._entity import BASE_ENTITY_NAMES, EntityEntry, base_entity
from runtime.errors import BotDefinitionError


def test_a_custom_entity_keeps_its_values_and_synonyms_in_order() -> None:
    city = Entity("city", entries={"Barcelona": ["BCN", "barna"], "Madrid": []})
    assert city.entries == (
        EntityEntry("Barcelona", ("BCN", "barna")),
        EntityEntry("Madrid", ()),
    )
    assert not city.base_entity


def test_the_base_entities_have_bbf_names_and_no_entries() -> None:
    assert [e.name for e in (number_entity, datetime_entity, any_entity)] == [
        "base.number",
        "base.date-time",
        "base.any",
    ]
    assert all(e.base_entity and e.entries is None for e in (number_entity, datetime_entity))
    assert base_entity("base.number") is number_entity
    # Date-times hold numbers, so they are looked for first (BBF's ordered_base_entities).
    assert BASE_ENTITY_NAMES.index("base.date-time") < BASE_ENTITY_NAMES.index("base.number")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "city"}, "needs entries"),
        ({"name": "city", "entries": {}}, "needs entries"),
        ({"name": "city", "entries": {"Barcelona": "BCN"}}, "must be a list of str"),
        ({"name": "city", "entries": {"Barcelona": [3]}}, "must be a str"),
        ({"name": "city", "entries": {"": ["x"]}}, "non-empty"),
        ({"name": "city", "entries": {"Barcelona": ["  "]}}, "non-empty"),
        ({"name": "", "entries": {"a": []}}, "non-empty"),
        ({"name": "base.colour", "base_entity": True}, "no base entity"),
        ({"name": "base.number", "base_entity": True, "entries": {"1": []}}, "no entries"),
    ],
)
def test_a_malformed_entity_is_refused_with_a_message(kwargs: dict, message: str) -> None:
    with pytest.raises(BotDefinitionError, match=message):
        Entity(**kwargs)


def test_an_unknown_base_entity_name_is_refused() -> None:
    with pytest.raises(BotDefinitionError, match=r"base\.number"):
        base_entity("base.colour")


def test_parameters_chain_and_keep_definition_order() -> None:
    bot = Bot("b")
    city = bot.new_entity("city", entries={"Barcelona": []})
    intent = bot.new_intent("weather", ["weather in CITY on DAY"])
    assert intent.parameter("city", "CITY", city).parameter("day", "DAY", datetime_entity) is intent
    assert [(p.name, p.fragment, p.entity) for p in intent.parameters] == [
        ("city", "CITY", city),
        ("day", "DAY", datetime_entity),
    ]


def test_new_intent_takes_parameters_and_a_description() -> None:
    bot = Bot("b")
    intent = bot.new_intent(
        "order",
        ["NUM pizzas"],
        [IntentParameter("n", "NUM", number_entity)],
        description="order pizzas",
    )
    assert intent.description == "order pizzas"
    assert [p.name for p in intent.parameters] == ["n"]


def test_a_parameter_name_is_unique_within_its_intent() -> None:
    intent = Bot("b").new_intent("order", ["NUM pizzas"]).parameter("n", "NUM", number_entity)
    with pytest.raises(BotDefinitionError, match="already has a parameter named 'n'"):
        intent.parameter("n", "OTHER", number_entity)
    assert len(intent.parameters) == 1


@pytest.mark.parametrize(
    ("name", "fragment", "entity", "message"),
    [
        ("", "NUM", number_entity, "parameter name"),
        ("n", "", number_entity, "fragment"),
        ("n", "NUM", "base.number", "needs an Entity"),
    ],
)
def test_a_malformed_parameter_is_refused(
    name: str, fragment: str, entity: object, message: str
) -> None:
    intent = Bot("b").new_intent("order", ["NUM pizzas"])
    with pytest.raises(BotDefinitionError, match=message):
        intent.parameter(name, fragment, entity)  # type: ignore[arg-type]
    assert intent.parameters == ()


def test_a_served_bots_intents_take_no_new_parameters() -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True)
    intent = bot.new_intent("order", ["NUM pizzas"])
    bot.freeze()
    with pytest.raises(BotFrozenError):
        intent.parameter("n", "NUM", number_entity)
    with pytest.raises(BotFrozenError):
        bot.new_entity("city", entries={"Barcelona": []})
    assert intent.parameters == ()


def test_entity_names_are_unique_within_a_bot() -> None:
    bot = Bot("b")
    first = bot.new_entity("city", entries={"Barcelona": []})
    with pytest.raises(BotDefinitionError, match="already has an entity named 'city'"):
        bot.new_entity("city", entries={"Madrid": []})
    assert bot.entities == (first,)


def test_get_parameter_finds_a_matched_parameter_by_name() -> None:
    bot = Bot("b")
    intent = bot.new_intent("order", ["NUM pizzas"]).parameter("n", "NUM", number_entity)
    prediction = IntentClassifierPrediction(
        intent, 1.0, "NUM pizzas", [MatchedParameter("n", "3"), MatchedParameter("m", None)]
    )
    found = prediction.get_parameter("n")
    assert found == MatchedParameter("n", "3", {})
    missing = prediction.get_parameter("m")
    assert missing == MatchedParameter("m", None, {})
    assert prediction.get_parameter("absent") is None


def test_matched_parameters_do_not_share_their_info_dicts() -> None:
    first, second = MatchedParameter("a"), MatchedParameter("b")
    first.info["frag"] = "x"
    assert second.info == {}
