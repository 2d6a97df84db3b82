"""Exceptions raised by the runtime.

Every exception the runtime raises on purpose derives from one root::

    SessionRuntimeError
     ├── BotDefinitionError          a bot was defined wrongly (raised at definition time)
     │    └── BotFrozenError          the bot was changed after a Runtime started on it
     ├── BotLoadError                a BOT argument (file path or module) could not be loaded
     ├── SessionAccessError          a Session was used outside its own turn
     ├── RuntimeStoppedError         the Runtime is not running (not started, or stopped)
     ├── SessionCrashedError         a session's actor died while handling this event
     └── OverloadedError             a queue bound was reached; the event was not accepted

Bad arguments to public entry points raise the builtin ``TypeError`` / ``ValueError`` with a
message that names what was expected; they are programming errors, not runtime conditions.
pykka's ``ActorDeadError`` and ``Timeout`` never leave the package: they are converted at the
boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "BotDefinitionError",
    "BotFrozenError",
    "BotLoadError",
    "OverloadedError",
    "RuntimeStoppedError",
    "SessionAccessError",
    "SessionCrashedError",
    "SessionRuntimeError",
]


class SessionRuntimeError(Exception):
    """Root of every exception the runtime raises on purpose."""


class BotDefinitionError(SessionRuntimeError, ValueError):
    """A bot definition is invalid; the message says which part and how to fix it."""


class BotFrozenError(BotDefinitionError):
    """A bot was modified after a Runtime started serving it."""


class BotLoadError(SessionRuntimeError):
    """A bot could not be loaded from a file path or module name."""


class SessionAccessError(SessionRuntimeError):
    """A Session object was used outside its own session's turn."""


class RuntimeStoppedError(SessionRuntimeError):
    """The Runtime is not accepting or completing events (never started, or stopped)."""


class SessionCrashedError(SessionRuntimeError):
    """The session's actor died while handling this event.

    The event's effects were rolled back, the actor was replaced, and the session's later
    events go on normally. ``__cause__`` holds the exception that killed the actor.
    """


class OverloadedError(SessionRuntimeError):
    """An event was refused because a queue bound was reached.

    Attributes:
        bound: which bound refused it (``"session_queue"`` or ``"pending_events"``).
        size: how many events were queued when it was refused.
        limit: the configured bound.
    """

    def __init__(self, bound: str, size: int, limit: int) -> None:
        super().__init__(
            f"{bound} is full ({size}/{limit} events queued); the event was not accepted, "
            "retry later or raise the bound"
        )
        self.bound = bound
        self.size = size
        self.limit = limit
