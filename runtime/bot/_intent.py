"""Intents and the prediction a classifier returns for a message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FALLBACK_INTENT_NAME", "Intent", "IntentClassifierPrediction", "fallback_intent"]

FALLBACK_INTENT_NAME = "fallback_intent"


@dataclass(frozen=True, eq=False)
class Intent:
    """A named user intention with the sentences that teach the classifier to spot it.

    Intents compare by identity: two bots may each have an intent called ``hello``.
    """

    name: str
    training_sentences: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Intent({self.name!r}, {len(self.training_sentences)} sentences)"


fallback_intent = Intent(FALLBACK_INTENT_NAME)
"""The intent predicted when no intent of the current state is recognised well enough."""


@dataclass(frozen=True)
class IntentClassifierPrediction:
    """What the classifier made of one message (BBF's name and fields).

    Attributes:
        intent: the predicted intent, ``fallback_intent`` below the confidence threshold.
        score: confidence in [0, 1].
        matched_sentence: the training sentence that matched best ('' if none).
        matched_parameters: entity values extracted from the message (empty: no entities).
    """

    intent: Intent
    score: float
    matched_sentence: str = ""
    matched_parameters: dict[str, Any] = field(default_factory=dict)
