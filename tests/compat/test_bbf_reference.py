"""The BBF side of the transcript comparison works: real BBF 1.5.0 runs its own example bots.

Every test here runs BBF's unchanged example files (from the wheel) in the BBF virtualenv,
with the deterministic classifier, and asserts the replies BBF gives.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
from _bbf_venv import BBF, STUBS, Transcript, manifest
from _deterministic import best, normalise, score, similarity, training_sentences, turn_seed

pytestmark = pytest.mark.slow  # builds a virtualenv once, then starts a BBF process per run


def texts(replies: list[list[str]]) -> list[str]:
    """The normalised texts of ``[kind, text]`` replies, all expected to be plain text."""
    assert all(kind == "text" for kind, _ in replies), replies
    return [normalise(text) for _, text in replies]


@pytest.fixture(scope="module")
def greetings(bbf: BBF) -> dict[str, Transcript]:
    return bbf.run(
        bbf.example("greetings_bot.py"),
        {
            "alice": ["hello", "good"],
            "bob": ["hi there!", "awful"],
            "carol": ["what is this?", "hello", "meh"],
        },
    )


@pytest.fixture(scope="module")
def weather(bbf: BBF) -> dict[str, Transcript]:
    return bbf.run(
        bbf.example("weather_bot.py"),
        {
            "alice": ["what is the weather in barcelona?", "weather in BCN", "weather in barna"],
            "bob": ["what is the weather?", "weather in Madrid", "good morning"],
        },
    )


def test_greetings_bot_answers_hello_then_good(greetings: dict[str, Transcript]) -> None:
    alice = greetings["alice"]
    assert alice["open"] == []  # the initial state has BBF's default (empty) body
    assert [texts(turn) for turn in alice["turns"]] == [
        ["Hi! How are you?"],
        ["I am glad to hear that!"],
    ]


def test_greetings_bot_scores_partial_matches_and_other_answers(
    greetings: dict[str, Transcript],
) -> None:
    # "hi there!" shares one word of two with "hi": Jaccard 0.5, above BBF's 0.4 threshold.
    assert [texts(turn) for turn in greetings["bob"]["turns"]] == [
        ["Hi! How are you?"],
        ["I am sorry to hear that..."],
    ]


def test_an_unmatched_message_gets_bbfs_default_fallback_reply(
    greetings: dict[str, Transcript],
) -> None:
    assert [texts(turn) for turn in greetings["carol"]["turns"]] == [
        ["Sorry, I didn't get it"],
        ["Hi! How are you?"],
        ["Sorry, I didn't get it"],  # hello_state's fallback: "meh" is neither good nor bad
    ]


def test_weather_bot_names_the_city_then_returns_to_waiting(
    weather: dict[str, Transcript],
) -> None:
    alice = weather["alice"]
    assert texts(alice["open"]) == ["Waiting..."]
    assert texts(alice["turns"][0]) == ["The weather in Barcelona is <T>°C", "<E>", "Waiting..."]


def test_weather_bot_maps_synonyms_to_the_entry_value(weather: dict[str, Transcript]) -> None:
    for turn in weather["alice"]["turns"][1:]:  # "BCN" and "barna"
        assert texts(turn) == ["The weather in Barcelona is <T>°C", "<E>", "Waiting..."]
    assert texts(weather["bob"]["turns"][1]) == [
        "The weather in Madrid is <T>°C",
        "<E>",
        "Waiting...",
    ]


def test_weather_bot_without_a_city_matches_the_intent_but_not_the_parameter(
    weather: dict[str, Transcript],
) -> None:
    # "what is the weather?" shares 4 of 6 words with "what is the weather in CITY_ENTITY?".
    assert texts(weather["bob"]["turns"][0]) == ["Sorry, I didn't get the city", "Waiting..."]
    assert texts(weather["bob"]["turns"][2]) == ["Sorry, I didn't get it"]


def test_weather_temperatures_come_from_the_turn_seed(weather: dict[str, Transcript]) -> None:
    # The example draws round(random.uniform(0, 30), 2) right after its seed; so can we.
    for turn_number, turn in enumerate(weather["alice"]["turns"], start=1):
        random.seed(turn_seed("alice", turn_number))
        temperature = round(random.uniform(0, 30), 2)
        emoji = "🥶" if temperature < 15 else "🥵"
        assert turn[:2] == [
            ["text", f"The weather in Barcelona is {temperature}°C"],
            ["text", emoji],
        ]


def test_bbf_processes_training_sentences_as_the_shared_helper_does(bbf: BBF) -> None:
    assert bbf.training_sentences(bbf.example("weather_bot.py")) == {
        "weather_intent": training_sentences(
            ["what is the weather in CITY?", "weather in CITY"], [("CITY", "city_entity")]
        )
    }
    assert training_sentences(["weather in CITY"], [("CITY", "city_entity")]) == [
        "weather in CITY_ENTITY"
    ]


def test_a_body_needing_a_stubbed_package_shows_bbfs_swallowed_error(
    bbf: BBF, tmp_path: Path
) -> None:
    bot_file = tmp_path / "dataframe_bot.py"
    bot_file.write_text(
        textwrap.dedent(
            """
            from pandas import DataFrame

            from besser.bot.core.bot import Bot
            from besser.bot.core.session import Session

            bot = Bot("dataframe_bot")
            platform = bot.use_websocket_platform(use_ui=False)
            initial = bot.new_state("initial", initial=True)

            def initial_body(session: Session):  # BBF rejects a body without this annotation
                session.reply("before")
                platform.reply_dataframe(session, DataFrame({"a": [1]}))

            initial.set_body(initial_body)
            # BBF raises IndexError after the body of a state without transitions.
            initial.when_no_intent_matched_go_to(initial)
            """
        )
    )
    assert "pandas" in STUBS
    (opened,) = bbf.run(bot_file, {"u": []}).values()
    assert opened["open"] == [
        ["text", "before"],
        ["error", "An error occurred while executing 'initial_body' of state 'initial' in bot "
         "'dataframe_bot'. See the attached exception:"],
    ]  # fmt: skip


def test_the_virtualenv_holds_bbf_and_only_light_packages(bbf: BBF) -> None:
    installed = {line.split("==")[0].split(" @ ")[0].lower() for line in manifest()["packages"]}
    assert "besser-bot-framework" in installed
    assert installed.isdisjoint({"tensorflow", "keras", "pandas", "streamlit", "torch"})
    assert bbf.python.is_file()


def test_similarity_is_one_for_equal_sentences_else_jaccard() -> None:
    assert (
        similarity("What is the weather in CITY_ENTITY ?", "what is the weather in city_entity?")
        == 1.0
    )
    assert similarity("hi there!", "hi") == 0.5
    assert similarity("", "hello") == 0.0
    assert score("hello", ["hi", "hello"]) == 1.0
    assert score("hello", []) == 0.0


def test_best_keeps_the_first_of_equal_scores_and_applies_the_threshold() -> None:
    assert best([("a", 0.5), ("b", 0.5)]) == "a"
    assert best([("a", 0.4)]) == "a"  # BBF drops only scores below the threshold
    assert best([("a", 0.39)]) is None
    assert best([]) is None


def test_normalise_hides_temperatures_and_weather_emoji() -> None:
    assert normalise("The weather in Madrid is -3.5°C") == "The weather in Madrid is <T>°C"
    assert normalise("12°C 🥶 🥵") == "<T>°C <E> <E>"
