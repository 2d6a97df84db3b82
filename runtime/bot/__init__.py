"""The definition-time bot model: what a bot author builds before serving it."""

from runtime.bot._bot import Bot
from runtime.bot._classifier import IntentClassifier, SimpleIntentClassifier
from runtime.bot._entity import (
    BASE_ENTITY_NAMES,
    Entity,
    EntityEntry,
    IntentParameter,
    any_entity,
    datetime_entity,
    number_entity,
)
from runtime.bot._file import File
from runtime.bot._intent import (
    FALLBACK_INTENT_NAME,
    Intent,
    IntentClassifierPrediction,
    MatchedParameter,
    fallback_intent,
)
from runtime.bot._ner import Recognised, SimpleNER
from runtime.bot._state import State, Transition, TransitionKind

__all__ = [
    "BASE_ENTITY_NAMES",
    "FALLBACK_INTENT_NAME",
    "Bot",
    "Entity",
    "EntityEntry",
    "File",
    "Intent",
    "IntentClassifier",
    "IntentClassifierPrediction",
    "IntentParameter",
    "MatchedParameter",
    "Recognised",
    "SimpleIntentClassifier",
    "SimpleNER",
    "State",
    "Transition",
    "TransitionKind",
    "any_entity",
    "datetime_entity",
    "fallback_intent",
    "number_entity",
]
