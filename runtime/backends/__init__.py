"""Backends: what runs a Runtime's sessions (threads of this process by default)."""

from runtime.backends._base import Backend, RuntimeConfig
from runtime.backends.threads import ThreadBackend

__all__ = ["Backend", "RuntimeConfig", "ThreadBackend"]
