"""Session stores: where passivated (and, with durable stores, all) sessions are kept.

``MemoryStore`` (the library default) keeps sessions in this process; ``SqliteStore`` (the
default of ``serve``) and ``RedisStore`` are durable: every committed turn is written before
its future resolves, through a ``Codec`` (``JsonCodec`` by default; ``PickleCodec`` by opt-in).
"""

from runtime.store._base import DurableStore, SessionStore
from runtime.store._codec import Codec, JsonCodec, PickleCodec
from runtime.store._memory import MemoryStore
from runtime.store._open import open_store
from runtime.store._persistence import Persistence, persistence_for
from runtime.store._redis import RedisStore
from runtime.store._sqlite import SqliteStore

__all__ = [
    "Codec",
    "DurableStore",
    "JsonCodec",
    "MemoryStore",
    "Persistence",
    "PickleCodec",
    "RedisStore",
    "SessionStore",
    "SqliteStore",
    "open_store",
    "persistence_for",
]
