"""Which BBF 1.5 module names exist here, and what each one holds.

Every name a bot file imports from ``besser.bot`` resolves to ours (or to a stand-in from
:mod:`runtime.compat._nlp` / :mod:`runtime.compat._platforms`). A module missing from this table
is a part of BBF this runtime does not offer; importing it fails with a message that says so.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

__all__ = ["MODULES", "packages"]


def _core_bot() -> dict[str, Any]:
    from runtime.compat._bot import BbfBot  # noqa: PLC0415

    return {"Bot": BbfBot}


def _session() -> dict[str, Any]:
    from runtime.session import Session  # noqa: PLC0415

    return {"Session": Session}


def _bot_model() -> dict[str, Any]:
    import runtime.bot as model  # noqa: PLC0415

    return {
        "State": model.State,
        "Intent": model.Intent,
        "IntentParameter": model.IntentParameter,
        "Entity": model.Entity,
        "EntityEntry": model.EntityEntry,
        "File": model.File,
        "Transition": model.Transition,
        "MatchedParameter": model.MatchedParameter,
        "IntentClassifierPrediction": model.IntentClassifierPrediction,
    }


def _properties() -> dict[str, Any]:
    from runtime import properties  # noqa: PLC0415

    return {name: getattr(properties, name) for name in dir(properties) if name.isupper()} | {
        "Property": properties.Property
    }


def _base_entities() -> dict[str, Any]:
    from runtime.bot import any_entity, datetime_entity, number_entity  # noqa: PLC0415

    class BaseEntities(enum.Enum):
        NUMBER = "base.number"
        DATETIME = "base.date-time"
        ANY = "base.any"

    return {
        "BaseEntities": BaseEntities,
        "ordered_base_entities": [BaseEntities.DATETIME, BaseEntities.NUMBER, BaseEntities.ANY],
        "number_entity": number_entity,
        "datetime_entity": datetime_entity,
        "any_entity": any_entity,
    }


def _intent_library() -> dict[str, Any]:
    from runtime.bot import fallback_intent  # noqa: PLC0415

    return {"fallback_intent": fallback_intent}


def _prediction() -> dict[str, Any]:
    from runtime.bot import IntentClassifierPrediction, MatchedParameter  # noqa: PLC0415
    from runtime.bot import fallback_intent as fallback  # noqa: PLC0415

    def fallback_intent_prediction(message: str) -> IntentClassifierPrediction:
        return IntentClassifierPrediction(fallback, 1.0, message, [])

    return {
        "IntentClassifierPrediction": IntentClassifierPrediction,
        "MatchedParameter": MatchedParameter,
        "fallback_intent_prediction": fallback_intent_prediction,
    }


def _nlp(*names: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        import runtime.compat._nlp as nlp  # noqa: PLC0415

        return {name: getattr(nlp, name) for name in names}

    return load


def _platforms(*names: str, properties: bool = False) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        import runtime.compat._platforms as platforms  # noqa: PLC0415

        found = {name: getattr(platforms, name) for name in names}
        return (_properties() | found) if properties else found

    return load


def _exceptions() -> dict[str, Any]:
    from runtime.errors import BotDefinitionError  # noqa: PLC0415

    names = [
        "BodySignatureError",
        "BotNotTrainedError",
        "ConflictingAutoTransitionError",
        "DuplicatedEntityError",
        "DuplicatedInitialStateError",
        "DuplicatedIntentError",
        "DuplicatedIntentMatchingTransitionError",
        "DuplicatedIntentParameterError",
        "DuplicatedStateError",
        "EventSignatureError",
        "InitialStateNotFound",
        "IntentNotFound",
        "StateNotFound",
    ]
    # One class for all: this runtime raises BotDefinitionError for each of these mistakes.
    return dict.fromkeys(names, BotDefinitionError)


_MODEL = _bot_model
MODULES: dict[str, Callable[[], dict[str, Any]]] = {
    "besser.bot.core.bot": _core_bot,
    "besser.bot.core.session": _session,
    "besser.bot.core.state": _MODEL,
    "besser.bot.core.file": _MODEL,
    "besser.bot.core.transition": _MODEL,
    "besser.bot.core.property": _properties,
    "besser.bot.core.entity.entity": _MODEL,
    "besser.bot.core.entity.entity_entry": _MODEL,
    "besser.bot.core.intent.intent": _MODEL,
    "besser.bot.core.intent.intent_parameter": _MODEL,
    "besser.bot.core.processors.processor": _nlp("Processor"),
    "besser.bot.core.processors.language_detection_processor": _nlp("LanguageDetectionProcessor"),
    "besser.bot.core.processors.user_adaptation_processor": _nlp("UserAdaptationProcessor"),
    "besser.bot.exceptions.exceptions": _exceptions,
    "besser.bot.library.entity.base_entities": _base_entities,
    "besser.bot.library.intent.intent_library": _intent_library,
    "besser.bot.nlp": _properties,
    "besser.bot.db": _properties,
    "besser.bot.nlp.intent_classifier.intent_classifier_prediction": _prediction,
    "besser.bot.nlp.ner.matched_parameter": _prediction,
    "besser.bot.nlp.intent_classifier.intent_classifier_configuration": _nlp(
        "IntentClassifierConfiguration",
        "SimpleIntentClassifierConfiguration",
        "LLMIntentClassifierConfiguration",
    ),
    "besser.bot.nlp.llm.llm": _nlp("LLM"),
    "besser.bot.nlp.llm.llm_openai_api": _nlp("LLMOpenAI"),
    "besser.bot.nlp.llm.llm_huggingface": _nlp("LLMHuggingFace"),
    "besser.bot.nlp.llm.llm_huggingface_api": _nlp("LLMHuggingFaceAPI"),
    "besser.bot.nlp.llm.llm_replicate_api": _nlp("LLMReplicate"),
    "besser.bot.nlp.rag.rag": _nlp("RAG", "RAGMessage"),
    "besser.bot.platforms.platform": _platforms("Platform"),
    "besser.bot.platforms.websocket": _platforms("WebSocketPlatform", properties=True),
    "besser.bot.platforms.websocket.websocket_platform": _platforms("WebSocketPlatform"),
    "besser.bot.platforms.telegram": _platforms("TelegramPlatform", properties=True),
    "besser.bot.platforms.telegram.telegram_platform": _platforms("TelegramPlatform"),
}
"""BBF module name -> a function returning its attributes (called on first import)."""


def packages() -> frozenset[str]:
    """Every package above a module of the table (``besser``, ``besser.bot``, ...)."""
    names: set[str] = set()
    for module in MODULES:
        parts = module.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(names)
