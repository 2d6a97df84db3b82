"""runtime: an actor-model concurrent session runtime for chatbots.

Define a bot once with :class:`Bot`; serve it to many users with :class:`Runtime`. Every
user's :class:`Session` is an actor that owns its data and handles its events one at a time.
"""

from runtime.backends import Backend, RuntimeConfig, ThreadBackend
from runtime.bot import (
    Bot,
    Entity,
    File,
    Intent,
    IntentClassifier,
    IntentClassifierPrediction,
    IntentParameter,
    MatchedParameter,
    SimpleIntentClassifier,
    SimpleNER,
    State,
    any_entity,
    datetime_entity,
    fallback_intent,
    number_entity,
)
from runtime.errors import (
    BotDefinitionError,
    BotFrozenError,
    BotLoadError,
    NotAvailableError,
    OverloadedError,
    PoisonEventError,
    RuntimeStoppedError,
    SessionAccessError,
    SessionCrashedError,
    SessionRuntimeError,
    SessionValueError,
    ShardFencedError,
    ShardUnavailableError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
    TurnTimeoutError,
)
from runtime.event import Event, ReceivedEvent, TurnKind
from runtime.properties import Property
from runtime.replies import Reply
from runtime.runtime import Runtime, RuntimeState
from runtime.session import Session, SessionSnapshot
from runtime.stats import RuntimeStats
from runtime.store import MemoryStore, SessionStore
from runtime.subscriptions import Subscription

__all__ = [
    "Backend",
    "Bot",
    "BotDefinitionError",
    "BotFrozenError",
    "BotLoadError",
    "Entity",
    "Event",
    "File",
    "Intent",
    "IntentClassifier",
    "IntentClassifierPrediction",
    "IntentParameter",
    "MatchedParameter",
    "MemoryStore",
    "NotAvailableError",
    "OverloadedError",
    "PoisonEventError",
    "Property",
    "ReceivedEvent",
    "Reply",
    "Runtime",
    "RuntimeConfig",
    "RuntimeState",
    "RuntimeStats",
    "RuntimeStoppedError",
    "Session",
    "SessionAccessError",
    "SessionCrashedError",
    "SessionRuntimeError",
    "SessionSnapshot",
    "SessionStore",
    "SessionValueError",
    "ShardFencedError",
    "ShardUnavailableError",
    "SimpleIntentClassifier",
    "SimpleNER",
    "State",
    "StoreCorruptError",
    "StoreError",
    "StoreUnavailableError",
    "Subscription",
    "ThreadBackend",
    "TurnKind",
    "TurnTimeoutError",
    "any_entity",
    "datetime_entity",
    "fallback_intent",
    "number_entity",
]

__version__ = "0.1.0"
