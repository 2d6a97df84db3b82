"""Intents, their parameters, and the prediction a classifier returns for a message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.bot._entity import Entity, IntentParameter
from runtime.errors import BotDefinitionError

__all__ = [
    "FALLBACK_INTENT_NAME",
    "Intent",
    "IntentClassifierPrediction",
    "MatchedParameter",
    "fallback_intent",
]

FALLBACK_INTENT_NAME = "fallback_intent"


class Intent:
    """A named user intention: the sentences that teach the classifier to spot it, and the
    parameters (entity values) to extract from the message (BBF's ``Intent``).

    Create intents with :meth:`Bot.new_intent`. Intents compare by identity: two bots may each
    have an intent called ``hello``.

    Args:
        name: the intent's name.
        training_sentences: how users say it.
        parameters: the parameters to fill from a message (see :meth:`parameter`).
        description: what the intent means, in words (for documentation and LLM-based
            classifiers).
    """

    __slots__ = ("_check_mutable", "_parameters", "description", "name", "training_sentences")

    def __init__(
        self,
        name: str,
        training_sentences: Iterable[str] = (),
        parameters: Iterable[IntentParameter] = (),
        description: str | None = None,
        *,
        check_mutable: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.training_sentences: tuple[str, ...] = tuple(training_sentences)
        self.description = description
        self._parameters: tuple[IntentParameter, ...] = ()
        self._check_mutable = check_mutable
        for parameter in parameters:
            self._add_parameter(parameter)

    @property
    def parameters(self) -> tuple[IntentParameter, ...]:
        """The intent's parameters, in definition order."""
        return self._parameters

    def parameter(self, name: str, fragment: str, entity: Entity) -> Intent:
        """Declare a parameter: where a training sentence says ``fragment``, a message holds a
        value of ``entity``, found by the classifier and read with
        ``session.predicted_intent.get_parameter(name).value``.

        Example::

            weather = bot.new_intent("weather", ["what is the weather in CITY?"])
            weather.parameter("city", "CITY", city_entity)

        Returns:
            The intent itself, so calls can be chained (as in BBF).

        Raises:
            BotDefinitionError: the intent already has a parameter called ``name``, ``fragment``
                is empty, or ``entity`` is not an :class:`Entity`; or the bot is being served.
        """
        self._add_parameter(IntentParameter(name, fragment, entity))
        return self

    def _add_parameter(self, parameter: IntentParameter) -> None:
        if self._check_mutable is not None:
            self._check_mutable()
        if not isinstance(parameter, IntentParameter):
            raise BotDefinitionError(
                f"intent {self.name!r}: parameters must be IntentParameter, "
                f"got {type(parameter).__name__}"
            )
        if any(existing.name == parameter.name for existing in self._parameters):
            raise BotDefinitionError(
                f"intent {self.name!r} already has a parameter named {parameter.name!r}"
            )
        self._parameters = (*self._parameters, parameter)

    def __copy__(self) -> Intent:
        return self  # part of the bot's definition, shared by every session

    def __deepcopy__(self, memo: dict[int, object]) -> Intent:
        return self

    def __repr__(self) -> str:
        return f"Intent({self.name!r}, {len(self.training_sentences)} sentences)"


fallback_intent = Intent(FALLBACK_INTENT_NAME)
"""The intent predicted when no intent of the current state is recognised well enough."""


@dataclass(frozen=True)
class MatchedParameter:
    """A parameter of the predicted intent, as found in the message (BBF's name and fields).

    Attributes:
        name: the parameter's name.
        value: the entity value found: a custom entity's main value (the synonym the user typed
            is mapped to it), a number as text (``"3.5"``), a date-time in ISO 8601 text, or
            None when the message held none.
        info: more about the value (for date-times, which of year, month, day, hour, minute and
            second the message gave, and the text it was read from as ``frag``).
    """

    name: str
    value: Any = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IntentClassifierPrediction:
    """What the classifier made of one message (BBF's name and fields).

    Attributes:
        intent: the predicted intent, ``fallback_intent`` below the confidence threshold.
        score: confidence in [0, 1].
        matched_sentence: the training sentence that matched best ('' if none).
        matched_parameters: the predicted intent's parameters, one per declared parameter
            (BBF's order: those found first, in the order found, then the others with value
            None); empty for an intent without parameters and for ``fallback_intent``.
    """

    intent: Intent
    score: float
    matched_sentence: str = ""
    matched_parameters: list[MatchedParameter] = field(default_factory=list)

    def get_parameter(self, name: str) -> MatchedParameter | None:
        """Return the matched parameter called ``name``, or None if the intent has none."""
        for parameter in self.matched_parameters:
            if parameter.name == name:
                return parameter
        return None
