"""Bot properties (BBF's names and INI files) and what they configure."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runtime import Bot, BotFrozenError, Property, SimpleIntentClassifier
from runtime._cli_serve import DEFAULT_HOST, DEFAULT_MAX_FILE_BYTES, DEFAULT_PORT, _bot_settings
from runtime.errors import BotDefinitionError
from runtime.platforms.web import WebSettings
from runtime.properties import (
    DB_MONITORING,
    NLP_INTENT_THRESHOLD,
    NLP_LANGUAGE,
    NLP_TIMEZONE,
    TELEGRAM_TOKEN,
    WEBSOCKET_HOST,
    WEBSOCKET_MAX_SIZE,
    WEBSOCKET_PORT,
    Properties,
)

BBF_CONFIG = """\
[nlp]
nlp.language = es
nlp.timezone = America/New_York
nlp.intent_threshold = 0.75

[websocket_platform]
websocket.host = 0.0.0.0
websocket.port = 9001

[db]
db.monitoring = yes

[telegram_platform]
telegram.token = 123:ABC%def
"""


def bot_with_state(name: str = "b") -> Bot:
    bot = Bot(name)
    bot.new_state("s", initial=True)
    return bot


def test_unset_properties_read_as_bbfs_defaults() -> None:
    properties = Properties()
    assert properties.get(NLP_LANGUAGE) == "en"
    assert properties.get(NLP_TIMEZONE) == "Europe/Madrid"
    assert properties.get(NLP_INTENT_THRESHOLD) == 0.4
    assert properties.get(WEBSOCKET_HOST) == "localhost"
    assert properties.get(WEBSOCKET_PORT) == 8765
    assert properties.get(TELEGRAM_TOKEN) is None
    assert not properties.is_set(WEBSOCKET_PORT)


def test_a_bbf_config_file_reads_with_its_types(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(BBF_CONFIG, encoding="utf-8")
    bot = Bot("b")
    bot.load_properties(path)
    assert bot.get_property(NLP_LANGUAGE) == "es"
    assert bot.get_property(NLP_INTENT_THRESHOLD) == 0.75
    assert bot.get_property(WEBSOCKET_PORT) == 9001
    assert bot.get_property(DB_MONITORING) is True
    assert bot.get_property(TELEGRAM_TOKEN) == "123:ABC%def"  # no interpolation of %


def test_a_missing_properties_file_is_logged_and_the_defaults_stay(tmp_path: Path) -> None:
    bot = Bot("b")
    with capture_logs() as logs:
        bot.load_properties(tmp_path / "absent.ini")
    assert [entry["event"] for entry in logs] == ["properties_file_missing"]
    assert bot.get_property(WEBSOCKET_PORT) == 8765


def test_a_file_that_is_not_ini_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("nlp.language = en\n", encoding="utf-8")  # no section header
    with pytest.raises(BotDefinitionError, match="cannot read properties file"):
        Bot("b").load_properties(path)


def test_a_value_of_the_wrong_type_in_a_file_is_reported_when_read(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[websocket_platform]\nwebsocket.port = eighty\n", encoding="utf-8")
    bot = Bot("b")
    bot.load_properties(path)
    with pytest.raises(BotDefinitionError, match=r"websocket.port.*'eighty', not a int"):
        bot.get_property(WEBSOCKET_PORT)


def test_set_property_checks_the_type_and_none_restores_the_default() -> None:
    bot = Bot("b")
    bot.set_property(WEBSOCKET_PORT, 9000)
    assert bot.get_property(WEBSOCKET_PORT) == 9000
    bot.set_property(NLP_INTENT_THRESHOLD, 1)  # an int is a float here
    assert bot.get_property(NLP_INTENT_THRESHOLD) == 1.0
    with pytest.raises(TypeError, match="takes a int, got str"):
        bot.set_property(WEBSOCKET_PORT, "9000")
    with pytest.raises(TypeError, match="takes a int, got bool"):
        bot.set_property(WEBSOCKET_PORT, True)
    assert bot.get_property(WEBSOCKET_PORT) == 9000
    bot.set_property(WEBSOCKET_PORT, None)
    assert bot.get_property(WEBSOCKET_PORT) == 8765
    assert not bot.properties.is_set(WEBSOCKET_PORT)


def test_custom_properties_round_trip() -> None:
    greeting = Property("my_bot", "my_bot.greeting", str, "hello")
    retries = Property("my_bot", "my_bot.retries", int)
    bot = Bot("b")
    assert bot.get_property(greeting) == "hello"
    assert bot.get_property(retries) is None
    bot.set_property(greeting, "hola")
    bot.set_property(retries, 3)
    assert (bot.get_property(greeting), bot.get_property(retries)) == ("hola", 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("s", "n", list), "must be str, bool, int or float"),
        (("s", "n", int, "1"), "is not a int"),
        (("s", "n", bool, 1), "is not a bool"),
    ],
)
def test_a_malformed_property_is_refused(args: tuple, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Property(*args)


def test_get_property_takes_a_property() -> None:
    with pytest.raises(TypeError, match="takes a Property"):
        Bot("b").get_property("nlp.language")  # type: ignore[arg-type]


def test_a_served_bots_properties_cannot_change(tmp_path: Path) -> None:
    bot = bot_with_state()
    bot.freeze()
    with pytest.raises(BotFrozenError):
        bot.set_property(WEBSOCKET_PORT, 1)
    with pytest.raises(BotFrozenError):
        bot.load_properties(tmp_path / "config.ini")
    assert bot.get_property(WEBSOCKET_PORT) == 8765


# -- what they configure --------------------------------------------------------------------


def test_language_and_time_zone_configure_the_bots_recogniser() -> None:
    bot = bot_with_state()
    assert (bot.ner.language, bot.ner.timezone) == ("en", "Europe/Madrid")
    bot.set_property(NLP_LANGUAGE, "es")
    bot.set_property(NLP_TIMEZONE, "America/New_York")
    bot.freeze()
    assert (bot.ner.language, bot.ner.timezone) == ("es", "America/New_York")


def test_a_bad_time_zone_property_fails_the_freeze_with_a_message() -> None:
    bot = bot_with_state()
    bot.set_property(NLP_TIMEZONE, "Mars/Olympus")
    with pytest.raises(BotDefinitionError, match="IANA time zone"):
        bot.freeze()
    assert not bot.frozen


def test_the_intent_threshold_property_sets_the_default_classifiers_threshold() -> None:
    bot = bot_with_state()
    assert bot.classifier.threshold == 0.5  # type: ignore[attr-defined]  # unset: our default
    bot.set_property(NLP_INTENT_THRESHOLD, 0.8)
    bot.freeze()
    classifier = bot.classifier
    assert isinstance(classifier, SimpleIntentClassifier)
    assert classifier.threshold == 0.8


def test_a_classifier_given_by_the_bot_keeps_its_own_threshold() -> None:
    mine = SimpleIntentClassifier(0.3)
    bot = Bot("b", classifier=mine)
    bot.new_state("s", initial=True)
    bot.set_property(NLP_INTENT_THRESHOLD, 0.9)
    bot.freeze()
    assert bot.classifier is mine
    assert mine.threshold == 0.3


# -- serve's host and port ------------------------------------------------------------------


def serve_args(host: str | None = None, port: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(host=host, port=port, allow_origin=[], rate=None)


def test_serve_listens_on_its_defaults_when_the_bot_sets_nothing() -> None:
    host, port, options = _bot_settings(bot_with_state(), serve_args())
    assert (host, port) == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8000)
    assert "max_frame_bytes" not in options


def test_serve_uses_the_bots_websocket_properties(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    config = BBF_CONFIG.replace(
        "websocket.port = 9001", "websocket.port = 9001\nwebsocket.max_size = 4096"
    )
    path.write_text(config, encoding="utf-8")
    bot = bot_with_state()
    bot.load_properties(path)
    host, port, options = _bot_settings(bot, serve_args())
    assert (host, port) == ("0.0.0.0", 9001)
    assert options["max_frame_bytes"] == 4096 == bot.get_property(WEBSOCKET_MAX_SIZE)


def test_the_command_line_beats_the_bots_properties() -> None:
    bot = bot_with_state()
    bot.set_property(WEBSOCKET_HOST, "0.0.0.0")
    bot.set_property(WEBSOCKET_PORT, 9001)
    assert _bot_settings(bot, serve_args("10.0.0.1", 0))[:2] == ("10.0.0.1", 0)
    assert _bot_settings(bot, serve_args(port=7000))[:2] == ("0.0.0.0", 7000)


def test_ports_and_frame_sizes_from_properties_are_checked_and_named(tmp_path: Path) -> None:
    bot = Bot("ports")
    bot.new_state("start", initial=True)
    bot.set_property(WEBSOCKET_PORT, 99999)
    with pytest.raises(ValueError, match=r"websocket\.port property is 99999: a port is 0"):
        _bot_settings(bot, serve_args())
    with pytest.raises(BotDefinitionError, match=r"websocket\.port is 99999, not a port"):
        bot.run()
    bot.set_property(WEBSOCKET_PORT, 8765)
    bot.set_property(WEBSOCKET_MAX_SIZE, 1000)
    with pytest.raises(ValueError, match=r"websocket\.max_size property is 1000: serve needs"):
        _bot_settings(bot, serve_args())
    bot.set_property(WEBSOCKET_MAX_SIZE, 65536)
    _, _, options = _bot_settings(bot, serve_args())
    assert options["max_file_bytes"] == (65536 - 1024) * 3 // 4  # base64 in one frame
    assert WebSettings().max_file_bytes == DEFAULT_MAX_FILE_BYTES


def test_a_bad_timezone_property_is_named() -> None:
    bot = Bot("zones")
    bot.new_state("start", initial=True)
    bot.set_property(NLP_TIMEZONE, "Mars/Olympus")
    with pytest.raises(BotDefinitionError, match=r"nlp\.timezone: timezone must be an IANA"):
        bot.freeze()
