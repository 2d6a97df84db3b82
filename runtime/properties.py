"""Bot properties: typed settings read from an INI file or set in code (BBF's names).

A property is a typed key in a section: ``bot.load_properties("config.ini")``,
``bot.set_property(NLP_LANGUAGE, "es")``, ``bot.get_property(WEBSOCKET_PORT)``. The names are
BBF 1.5's, so a BBF ``config.ini`` reads unchanged::

    [nlp]
    nlp.language = en
    nlp.timezone = Europe/Madrid

    [websocket_platform]
    websocket.host = localhost
    websocket.port = 8765

What the runtime does with them: ``nlp.language`` and ``nlp.timezone`` configure the entity
recogniser; ``nlp.intent_threshold``, when set, the built-in classifier's threshold;
``websocket.host`` and ``websocket.port`` are where :meth:`Bot.run` serves and the defaults of
``python -m runtime serve`` for the bot; ``websocket.max_size`` caps a WebSocket frame. The other
properties are kept and readable, for the bot's own code, but configure nothing here.
"""

from __future__ import annotations

import configparser
import os
import threading
from typing import Any

from runtime.errors import BotDefinitionError
from runtime.log import get_logger

__all__ = [
    "DB_MONITORING",
    "NLP_INTENT_THRESHOLD",
    "NLP_LANGUAGE",
    "NLP_PRE_PROCESSING",
    "NLP_REGION",
    "NLP_TIMEZONE",
    "OPENAI_API_KEY",
    "SECTION_DB",
    "SECTION_NLP",
    "SECTION_TELEGRAM",
    "SECTION_WEBSOCKET",
    "TELEGRAM_TOKEN",
    "WEBSOCKET_HOST",
    "WEBSOCKET_MAX_SIZE",
    "WEBSOCKET_PORT",
    "Properties",
    "Property",
]

_TYPES = (str, bool, int, float)


class Property:
    """A typed bot property: ``section``, ``name``, ``type`` and ``default_value`` (BBF's class).

    Raises:
        TypeError: ``property_type`` is not str, bool, int or float, or the default is not of it.
    """

    __slots__ = ("default_value", "name", "section", "type")

    def __init__(
        self, section: str, name: str, property_type: type, default_value: Any = None
    ) -> None:
        if property_type not in _TYPES:
            raise TypeError(
                f"property {name!r}: the type must be str, bool, int or float, got "
                f"{property_type!r}"
            )
        if default_value is not None and not _is(default_value, property_type):
            raise TypeError(
                f"property {name!r} in section {section!r}: the default {default_value!r} is "
                f"not a {property_type.__name__}"
            )
        self.section = section
        self.name = name
        self.type = property_type
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"Property({self.section!r}, {self.name!r}, {self.type.__name__})"


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return type(value) in (int, float)
    if kind is int:
        return type(value) is int
    return isinstance(value, kind)


SECTION_NLP = "nlp"
NLP_LANGUAGE = Property(SECTION_NLP, "nlp.language", str, "en")
NLP_REGION = Property(SECTION_NLP, "nlp.region", str, "US")
NLP_TIMEZONE = Property(SECTION_NLP, "nlp.timezone", str, "Europe/Madrid")
NLP_PRE_PROCESSING = Property(SECTION_NLP, "nlp.pre_processing", bool, True)
NLP_INTENT_THRESHOLD = Property(SECTION_NLP, "nlp.intent_threshold", float, 0.4)
NLP_STT_HF_MODEL = Property(SECTION_NLP, "nlp.speech2text.hf.model", str, None)
NLP_STT_SR_ENGINE = Property(SECTION_NLP, "nlp.speech2text.sr.engine", str, None)
OPENAI_API_KEY = Property(SECTION_NLP, "nlp.openai.api_key", str, None)
HF_API_KEY = Property(SECTION_NLP, "nlp.hf.api_key", str, None)
REPLICATE_API_KEY = Property(SECTION_NLP, "nlp.replicate.api_key", str, None)

SECTION_WEBSOCKET = "websocket_platform"
WEBSOCKET_HOST = Property(SECTION_WEBSOCKET, "websocket.host", str, "localhost")
WEBSOCKET_PORT = Property(SECTION_WEBSOCKET, "websocket.port", int, 8765)
WEBSOCKET_MAX_SIZE = Property(SECTION_WEBSOCKET, "websocket.max_size", int, None)
STREAMLIT_HOST = Property(SECTION_WEBSOCKET, "streamlit.host", str, "localhost")
STREAMLIT_PORT = Property(SECTION_WEBSOCKET, "streamlit.port", int, 5000)

SECTION_TELEGRAM = "telegram_platform"
TELEGRAM_TOKEN = Property(SECTION_TELEGRAM, "telegram.token", str, None)

SECTION_DB = "db"
DB_MONITORING = Property(SECTION_DB, "db.monitoring", bool, False)
DB_MONITORING_DIALECT = Property(SECTION_DB, "db.monitoring.dialect", str, None)
DB_MONITORING_HOST = Property(SECTION_DB, "db.monitoring.host", str, None)
DB_MONITORING_PORT = Property(SECTION_DB, "db.monitoring.port", int, None)
DB_MONITORING_DATABASE = Property(SECTION_DB, "db.monitoring.database", str, None)
DB_MONITORING_USERNAME = Property(SECTION_DB, "db.monitoring.username", str, None)
DB_MONITORING_PASSWORD = Property(SECTION_DB, "db.monitoring.password", str, None)


class Properties:
    """A bot's property values: an INI document with typed reads (thread-safe)."""

    def __init__(self) -> None:
        self._config = configparser.ConfigParser(interpolation=None)
        self._lock = threading.Lock()

    def load(self, path: str | os.PathLike[str]) -> bool:
        """Read the INI file at ``path``; its values replace those already set.

        A missing file is logged and skipped, as BBF does (its examples load a
        ``config.ini`` they do not ship).

        Returns:
            Whether the file was read.

        Raises:
            BotDefinitionError: the file exists but is not a valid INI file, or cannot be read.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            get_logger().warning(
                "properties_file_missing",
                path=path,
                cwd=os.getcwd(),
                detail="using the defaults (and what the bot sets in code)",
            )
            return False
        with self._lock:
            try:
                with open(path, encoding="utf-8") as file:
                    self._config.read_file(file, source=path)
            except (configparser.Error, OSError, UnicodeDecodeError) as exc:
                raise BotDefinitionError(f"cannot read properties file {path!r}: {exc}") from exc
        return True

    def get(self, prop: Property) -> Any:
        """Return ``prop``'s value, or its default when unset.

        Raises:
            BotDefinitionError: the stored text is not a value of the property's type.
        """
        if not isinstance(prop, Property):
            raise TypeError(f"get_property takes a Property, got {type(prop).__name__}")
        with self._lock:
            if not self._config.has_option(prop.section, prop.name):
                return prop.default_value
            try:
                if prop.type is bool:
                    return self._config.getboolean(prop.section, prop.name)
                if prop.type is int:
                    return self._config.getint(prop.section, prop.name)
                if prop.type is float:
                    return self._config.getfloat(prop.section, prop.name)
                return self._config.get(prop.section, prop.name)
            except ValueError as exc:
                text = self._config.get(prop.section, prop.name)
                raise BotDefinitionError(
                    f"property {prop.name!r} in section [{prop.section}] is {text!r}, not a "
                    f"{prop.type.__name__}"
                ) from exc

    def is_set(self, prop: Property) -> bool:
        """Whether ``prop`` has a value of its own (from a file or :meth:`set`)."""
        with self._lock:
            return self._config.has_option(prop.section, prop.name)

    def set(self, prop: Property, value: Any) -> None:
        """Set ``prop`` to ``value`` (None removes it, so its default applies).

        Raises:
            TypeError: ``prop`` is not a Property, or ``value`` is not of its type.
        """
        if not isinstance(prop, Property):
            raise TypeError(f"set_property takes a Property, got {type(prop).__name__}")
        if value is not None and not _is(value, prop.type):
            raise TypeError(
                f"property {prop.name!r} in section [{prop.section}] takes a "
                f"{prop.type.__name__}, got {type(value).__name__} {value!r}"
            )
        with self._lock:
            if value is None:
                if self._config.has_section(prop.section):
                    self._config.remove_option(prop.section, prop.name)
                return
            if not self._config.has_section(prop.section):
                self._config.add_section(prop.section)
            self._config.set(prop.section, prop.name, str(value))
