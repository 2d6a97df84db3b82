"""runtime: an actor-model concurrent session runtime for chatbots.

Define a bot once with :class:`Bot`; serve it to many users with :class:`Runtime`. Every
user's :class:`Session` is an actor that owns its data and handles its events one at a time.
"""

from runtime.bot import (
    Bot,
    File,
    Intent,
    IntentClassifier,
    IntentClassifierPrediction,
    SimpleIntentClassifier,
    State,
    fallback_intent,
)
from runtime.errors import (
    BotDefinitionError,
    BotFrozenError,
    BotLoadError,
    OverloadedError,
    RuntimeStoppedError,
    SessionAccessError,
    SessionCrashedError,
    SessionRuntimeError,
)
from runtime.runtime import Runtime
from runtime.session import ReceivedEvent, Session, SessionSnapshot
from runtime.stats import RuntimeStats
from runtime.store import MemoryStore, SessionStore

__all__ = [
    "Bot",
    "BotDefinitionError",
    "BotFrozenError",
    "BotLoadError",
    "File",
    "Intent",
    "IntentClassifier",
    "IntentClassifierPrediction",
    "MemoryStore",
    "OverloadedError",
    "ReceivedEvent",
    "Runtime",
    "RuntimeStats",
    "RuntimeStoppedError",
    "Session",
    "SessionAccessError",
    "SessionCrashedError",
    "SessionRuntimeError",
    "SessionSnapshot",
    "SessionStore",
    "SimpleIntentClassifier",
    "State",
    "fallback_intent",
]

__version__ = "0.1.0"
