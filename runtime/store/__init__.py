"""Session stores: where passivated (and, with durable stores, all) sessions are kept."""

from runtime.store._base import SessionStore
from runtime.store._memory import MemoryStore

__all__ = ["MemoryStore", "SessionStore"]
