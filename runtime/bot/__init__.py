"""The definition-time bot model: what a bot author builds before serving it."""

from runtime.bot._bot import Bot
from runtime.bot._classifier import IntentClassifier, SimpleIntentClassifier
from runtime.bot._file import File
from runtime.bot._intent import (
    FALLBACK_INTENT_NAME,
    Intent,
    IntentClassifierPrediction,
    fallback_intent,
)
from runtime.bot._state import State, Transition, TransitionKind

__all__ = [
    "FALLBACK_INTENT_NAME",
    "Bot",
    "File",
    "Intent",
    "IntentClassifier",
    "IntentClassifierPrediction",
    "SimpleIntentClassifier",
    "State",
    "Transition",
    "TransitionKind",
    "fallback_intent",
]
