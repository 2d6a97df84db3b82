"""Bot definition: BBF names, and clear errors for every mistake at definition time."""

from __future__ import annotations

import operator

import pytest

from runtime import Bot, BotDefinitionError, BotFrozenError, Runtime, Session
from runtime.bot import TransitionKind


def body(session: Session) -> None:
    session.reply("ok")


def event(session: Session, params: dict) -> bool:
    return True


@pytest.fixture
def bot() -> Bot:
    return Bot("test")


def test_new_state_and_intent_are_listed_in_creation_order(bot: Bot) -> None:
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    hello = bot.new_intent("hello", ["hello", "hi"])
    assert bot.states == (a, b)
    assert bot.intents == (hello,)
    assert bot.initial_state is a
    assert hello.training_sentences == ("hello", "hi")
    assert bot.get_state("b") is b


def test_duplicate_state_name_is_refused(bot: Bot) -> None:
    bot.new_state("a")
    with pytest.raises(BotDefinitionError, match="already has a state named 'a'"):
        bot.new_state("a")


def test_duplicate_intent_name_is_refused(bot: Bot) -> None:
    bot.new_intent("hello", ["hi"])
    with pytest.raises(BotDefinitionError, match="already has an intent named 'hello'"):
        bot.new_intent("hello", ["hello"])


def test_a_second_initial_state_is_refused(bot: Bot) -> None:
    bot.new_state("a", initial=True)
    with pytest.raises(BotDefinitionError, match=r"already has an initial state \('a'\)"):
        bot.new_state("b", initial=True)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_names_are_refused(bot: Bot, name: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        bot.new_state(name)
    with pytest.raises(ValueError, match="non-empty"):
        Bot(name)


def test_non_str_names_are_refused(bot: Bot) -> None:
    with pytest.raises(TypeError, match="state name must be a str"):
        bot.new_state(3)  # type: ignore[arg-type]


def test_training_sentences_must_be_a_list_of_str(bot: Bot) -> None:
    with pytest.raises(TypeError, match="not a single str"):
        bot.new_intent("a", "hello")
    with pytest.raises(TypeError, match="must be str"):
        bot.new_intent("b", ["hello", 3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "bad_body",
    [lambda: None, lambda a, b: None, "not callable"],
    ids=["no-parameter", "two-parameters", "not-callable"],
)
def test_bodies_with_the_wrong_signature_are_refused(bot: Bot, bad_body: object) -> None:
    state = bot.new_state("a")
    with pytest.raises(BotDefinitionError, match="body of state 'a'"):
        state.set_body(bad_body)  # type: ignore[arg-type]
    with pytest.raises(BotDefinitionError, match="fallback body"):
        state.set_fallback_body(bad_body)  # type: ignore[arg-type]
    with pytest.raises(BotDefinitionError, match="global fallback body"):
        bot.set_global_fallback_body(bad_body)  # type: ignore[arg-type]


def test_any_one_argument_callable_is_a_body(bot: Bot) -> None:
    state = bot.new_state("a")
    state.set_body(lambda session: session.reply("hi"))
    state.set_body(lambda session, extra=1: None)
    state.set_body(body)

    class Callable:
        def __call__(self, session: Session) -> None:
            pass

    state.set_body(Callable())


def test_events_with_the_wrong_signature_are_refused(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    with pytest.raises(BotDefinitionError, match="must take exactly 2 positional parameters"):
        a.when_event_go_to(lambda session: True, b, {})  # type: ignore[arg-type]


def test_event_params_must_be_a_dict(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    with pytest.raises(BotDefinitionError, match="event_params must be a dict"):
        a.when_event_go_to(event, b, ["x"])  # type: ignore[arg-type]


def test_variable_operation_must_take_two_arguments(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    with pytest.raises(BotDefinitionError, match="operation"):
        a.when_variable_matches_operation_go_to("x", lambda v: True, 1, b)  # type: ignore[arg-type]
    a.when_variable_matches_operation_go_to("x", operator.eq, 1, b)
    assert a.transitions[0].kind is TransitionKind.VARIABLE


def test_transitions_to_a_state_of_another_bot_are_refused(bot: Bot) -> None:
    other = Bot("other").new_state("x")
    a = bot.new_state("a")
    hello = bot.new_intent("hello", ["hi"])
    with pytest.raises(BotDefinitionError, match="belongs to bot 'other'"):
        a.go_to(other)
    with pytest.raises(BotDefinitionError, match="belongs to bot 'other'"):
        a.when_intent_matched_go_to(hello, other)


def test_an_intent_of_another_bot_is_refused(bot: Bot) -> None:
    foreign = Bot("other").new_intent("hello", ["hi"])
    a = bot.new_state("a")
    with pytest.raises(BotDefinitionError, match="not an intent of bot 'test'"):
        a.when_intent_matched_go_to(foreign, a)


def test_two_transitions_for_one_intent_are_refused(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    hello = bot.new_intent("hello", ["hi"])
    a.when_intent_matched_go_to(hello, b)
    with pytest.raises(BotDefinitionError, match="already has a transition for intent 'hello'"):
        a.when_intent_matched_go_to(hello, a)


def test_go_to_cannot_follow_other_transitions(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    a.when_no_intent_matched_go_to(b)
    with pytest.raises(BotDefinitionError, match="cannot be combined"):
        a.go_to(b)


def test_other_transitions_cannot_follow_go_to(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    hello = bot.new_intent("hello", ["hi"])
    a.go_to(b)
    with pytest.raises(BotDefinitionError, match="cannot be combined"):
        a.when_intent_matched_go_to(hello, b)
    with pytest.raises(BotDefinitionError, match="cannot be combined"):
        a.when_file_received_go_to(b)
    with pytest.raises(BotDefinitionError, match="cannot be combined"):
        a.when_event_go_to(event, b, {})


def test_allowed_types_accept_one_type_or_a_list(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    a.when_file_received_go_to(b, allowed_types="image/png")
    a.when_file_received_go_to(b, allowed_types=["image/png", "image/jpeg"])
    assert a.transitions[0].allowed_types == frozenset({"image/png"})
    assert a.transitions[1].allowed_types == frozenset({"image/png", "image/jpeg"})
    with pytest.raises(BotDefinitionError, match="allowed_types"):
        a.when_file_received_go_to(b, allowed_types=[])


def test_a_runtime_refuses_a_bot_without_an_initial_state(bot: Bot) -> None:
    bot.new_state("a")
    with pytest.raises(BotDefinitionError, match="no initial state"):
        Runtime(bot).start()


def test_the_bot_is_frozen_once_a_runtime_starts(bot: Bot) -> None:
    a = bot.new_state("a", initial=True)
    with Runtime(bot):
        assert bot.frozen
        with pytest.raises(BotFrozenError, match="can no longer change"):
            bot.new_state("b")
        with pytest.raises(BotFrozenError):
            a.set_body(body)
        with pytest.raises(BotFrozenError):
            a.go_to(a)
        with pytest.raises(BotFrozenError):
            bot.new_intent("x", ["x"])


def test_fallback_body_falls_back_to_the_global_one_then_the_default(bot: Bot) -> None:
    a, b = bot.new_state("a"), bot.new_state("b")
    b.set_fallback_body(body)
    assert a.fallback_body.__name__ == "default_fallback_body"

    def global_fallback(session: Session) -> None:
        session.reply("global")

    bot.set_global_fallback_body(global_fallback)
    assert a.fallback_body is global_fallback
    assert b.fallback_body is body


def test_set_classifier_needs_a_predict_method(bot: Bot) -> None:
    with pytest.raises(BotDefinitionError, match="predict"):
        bot.set_classifier(object())  # type: ignore[arg-type]
