"""A bot's settings: its properties, its classifier and its entity recogniser, and serving.

``Bot`` inherits these; they are apart because they are configuration (BBF's properties file,
the NLP pieces built from it), not the conversation model of states and transitions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from runtime.errors import BotDefinitionError, BotFrozenError
from runtime.properties import (
    NLP_INTENT_THRESHOLD,
    NLP_LANGUAGE,
    NLP_TIMEZONE,
    WEBSOCKET_HOST,
    WEBSOCKET_PORT,
    Properties,
    Property,
)

if TYPE_CHECKING:
    from runtime.bot._bot import Bot
    from runtime.bot._classifier import IntentClassifier
    from runtime.bot._ner import SimpleNER

__all__ = ["BotSettings", "check_classifier"]


def check_classifier(classifier: object, what: str) -> None:
    if not callable(getattr(classifier, "predict", None)):
        raise BotDefinitionError(f"{what} needs a predict(message, intents) method")


class BotSettings:
    """Properties, classifier and recogniser of a bot (see :class:`runtime.Bot`)."""

    def __init__(self, name: str, classifier: IntentClassifier | None) -> None:
        self._name = name
        self._classifier = classifier
        self._default_ic_config: IntentClassifier | None = None
        self._default_classifier: IntentClassifier | None = None
        self._ner: SimpleNER | None = None
        self._properties = Properties()
        self._frozen = False

    @property
    def properties(self) -> Properties:
        """The bot's property values (see :mod:`runtime.properties`)."""
        return self._properties

    @property
    def classifier(self) -> IntentClassifier:
        """The intent classifier of every state that has none of its own."""
        if self._classifier is not None:
            return self._classifier
        if self._default_classifier is None or not self._frozen:
            from runtime.bot._classifier import SimpleIntentClassifier  # noqa: PLC0415

            threshold = None
            if self._properties.is_set(NLP_INTENT_THRESHOLD):
                threshold = self._properties.get(NLP_INTENT_THRESHOLD)
            try:
                self._default_classifier = (
                    SimpleIntentClassifier(ner=self.ner)
                    if threshold is None
                    else SimpleIntentClassifier(threshold, ner=self.ner)
                )
            except (TypeError, ValueError) as exc:
                raise BotDefinitionError(
                    f"bot {self._name!r}: property {NLP_INTENT_THRESHOLD.name}: {exc}"
                ) from None
        return self._default_classifier

    @property
    def ner(self) -> SimpleNER:
        """The entity recogniser that fills intent parameters, configured by the
        ``nlp.language`` and ``nlp.timezone`` properties."""
        if self._ner is None or not self._frozen:
            from runtime.bot._ner import SimpleNER  # noqa: PLC0415

            ner = self._ner
            language = self._properties.get(NLP_LANGUAGE)
            timezone = self._properties.get(NLP_TIMEZONE)
            if ner is None or (ner.language, ner.timezone) != (language, timezone):
                try:
                    ner = SimpleNER(language, timezone)
                except ValueError as exc:
                    raise BotDefinitionError(
                        f"bot {self._name!r}: properties {NLP_LANGUAGE.name} and "
                        f"{NLP_TIMEZONE.name}: {exc}"
                    ) from None
            self._ner = ner
        return self._ner

    @property
    def frozen(self) -> bool:
        """Whether a Runtime has started on this bot (then it can no longer change)."""
        return self._frozen

    # -- properties ---------------------------------------------------------------------------

    def load_properties(self, path: str | os.PathLike[str]) -> None:
        """Read bot properties from an INI file (BBF's ``config.ini``; see
        :mod:`runtime.properties`). A missing file is logged and skipped, as in BBF.

        Raises:
            BotDefinitionError: the file is not valid INI, or the bot is being served.
        """
        self._check_mutable()
        self._properties.load(path)

    def get_property(self, prop: Property) -> Any:
        """Return a property's value, or its default when unset.

        Raises:
            TypeError: ``prop`` is not a :class:`~runtime.properties.Property`.
            BotDefinitionError: the value set is not of the property's type.
        """
        return self._properties.get(prop)

    def set_property(self, prop: Property, value: Any) -> None:
        """Set a property (None removes it).

        Raises:
            TypeError: ``prop`` is not a Property or ``value`` is not of its type.
            BotFrozenError: the bot is being served.
        """
        self._check_mutable()
        self._properties.set(prop, value)

    def set_default_ic_config(self, ic_config: IntentClassifier | None) -> None:
        """Set the classifier of the states created from now on without their own
        ``ic_config`` (BBF's rule: states created before keep theirs).

        Raises:
            BotDefinitionError: ``ic_config`` has no ``predict`` method.
        """
        self._check_mutable()
        if ic_config is not None:
            check_classifier(ic_config, "ic_config")
        self._default_ic_config = ic_config

    def set_classifier(self, classifier: IntentClassifier) -> None:
        """Replace the intent classifier (anything with ``predict(message, intents)``)."""
        self._check_mutable()
        check_classifier(classifier, "a classifier")
        self._classifier = classifier

    # -- serving ------------------------------------------------------------------------------

    def run(self, train: bool = True, sleep: bool = True) -> int:
        """Serve the bot as ``python -m runtime serve`` does, on ``websocket.host`` and
        ``websocket.port`` (BBF's defaults: localhost:8765), until SIGTERM or Ctrl-C.

        Args:
            train: accepted for BBF's signature; there is nothing to train.
            sleep: accepted for BBF's signature; serving always blocks until stopped.

        Returns:
            0 once stopped and drained (``serve``'s exit code).

        Raises:
            BotDefinitionError: the bot is incomplete, or ``websocket.port`` is not a port.
            OSError: the port cannot be bound.
        """
        from runtime.platforms.web._server import serve  # noqa: PLC0415 - the web stack is big

        host = self.get_property(WEBSOCKET_HOST)
        port = self.get_property(WEBSOCKET_PORT)
        if not 0 <= port <= 65535:
            raise BotDefinitionError(
                f"bot {self._name!r}: property {WEBSOCKET_PORT.name} is {port}, not a port "
                "(0 to 65535)"
            )
        return serve(cast("Bot", self), host=host, port=port)

    def _check_mutable(self) -> None:
        if self._frozen:
            raise BotFrozenError(
                f"bot {self._name!r} is being served by a Runtime and can no longer change; "
                "define it completely before starting the Runtime"
            )
