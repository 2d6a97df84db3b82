"""Exceptions raised by the runtime.

Every exception the runtime raises on purpose derives from one root::

    SessionRuntimeError
     ├── BotDefinitionError          a bot was defined wrongly (raised at definition time)
     │    └── BotFrozenError          the bot was changed after a Runtime started on it
     ├── BotLoadError                a BOT argument (file path or module) could not be loaded
     ├── NotAvailableError           a BBF feature needing a model or the network was used
     ├── SessionAccessError          a Session was used outside its own turn
     ├── RuntimeStoppedError         the Runtime is not running (not started, or stopped)
     ├── SessionCrashedError         a session's actor died while handling this event
     │    └── PoisonEventError        the event crashed its actor too often: quarantined
     ├── TurnTimeoutError            a turn ran longer than ``turn_timeout``; it will be undone
     ├── StoreError                  the session store failed; the event had no effect
     │    ├── StoreUnavailableError   the store is down, full or locked (it recovers by itself)
     │    └── StoreCorruptError       a stored record cannot be decoded
     │    └── ShardFencedError        a replaced Ray shard incarnation tried to write (refused)
     ├── SessionValueError           a session value cannot be copied or stored (also TypeError)
     ├── OverloadedError             a queue bound was reached; the event was not accepted
     └── ShardUnavailableError       a Ray shard could not be reached in time (runtime.ray)

Every failed reply future means the same thing: nothing of that turn was committed (the session
is as it was before the event). A resolved future means all of it was.

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
    "NotAvailableError",
    "OverloadedError",
    "PoisonEventError",
    "RuntimeStoppedError",
    "SessionAccessError",
    "SessionCrashedError",
    "SessionRuntimeError",
    "SessionValueError",
    "ShardFencedError",
    "ShardUnavailableError",
    "StoreCorruptError",
    "StoreError",
    "StoreUnavailableError",
    "TurnTimeoutError",
    "describe_exception",
]


class SessionRuntimeError(Exception):
    """Root of every exception the runtime raises on purpose."""


class BotDefinitionError(SessionRuntimeError, ValueError):
    """A bot definition is invalid; the message says which part and how to fix it."""


class BotFrozenError(BotDefinitionError):
    """A bot was modified after a Runtime started serving it."""


class NotAvailableError(SessionRuntimeError, NotImplementedError):
    """A BBF feature that needs the network or a model (Telegram, LLMs, RAG, speech) was used.

    Bot files that merely configure such features load and serve their other paths; the
    message says what was used and why it is not available in this runtime.
    """

    def __init__(self, feature: str, why: str) -> None:
        super().__init__(f"not available in this runtime: {feature} ({why})")
        self.feature = feature


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


class PoisonEventError(SessionCrashedError):
    """The event crashed its session's actor on every one of its attempts: it is quarantined.

    Its turn was rolled back each time; the session's later events go on.

    Attributes:
        attempts: how many times the event was run.
    """

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class TurnTimeoutError(SessionRuntimeError):
    """A turn ran longer than the Runtime's ``turn_timeout``.

    Python cannot stop a running thread: the body goes on until it returns, and then its turn
    is rolled back instead of committed. The session's later events wait behind it; other
    sessions do not (the pool replaces the stuck worker).
    """


class StoreError(SessionRuntimeError):
    """The session store failed while loading, saving or deleting a session.

    The affected event (or passivation, or forget) had no effect: the session stays as it was,
    live in memory when it was live. ``__cause__`` holds the store's exception. Retrying later
    is safe.
    """


class StoreUnavailableError(StoreError):
    """The store could not be reached or refused to write (server down, disk full, locked).

    The turn it failed was rolled back in memory, and the runtime needs no restart: the next
    event tries the store again. Nothing of the turn is in the store either, unless
    ``maybe_committed`` is true: a network store (Redis) that lost the connection while the
    write was in flight may have applied it. Then the session is reloaded from the store before
    its next event, so memory and store agree, and resending the event with the same
    ``message_id`` returns its stored replies if it was applied (it never runs twice).

    Attributes:
        maybe_committed: whether the store may have applied the failed write.
    """

    def __init__(self, message: str, *, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


class StoreCorruptError(StoreError):
    """A stored record could not be decoded (written by another codec, or damaged).

    Attributes:
        session_id: the session whose record is unreadable.
        reason: what is wrong with it.
    """

    def __init__(self, session_id: str, reason: str) -> None:
        self.session_id = session_id
        self.reason = reason
        super().__init__(f"the stored record of session {session_id!r} cannot be read: {reason}")


class ShardFencedError(StoreError):
    """A write of a Ray shard incarnation that a newer incarnation replaced was refused.

    Each incarnation of a shard (``runtime.ray``) takes a generation number from the store when
    it starts; the store refuses writes tagged with an older one, so an old incarnation that
    still answers after a node loss cannot commit anything. Its turn fails and is rolled back.

    Attributes:
        shard: the shard's index.
        generation: the refused incarnation's generation.
    """

    def __init__(self, message: str, *, shard: int = -1, generation: int = -1) -> None:
        super().__init__(message)
        self.shard = shard
        self.generation = generation


class SessionValueError(SessionRuntimeError, TypeError):
    """A session value cannot be copied or stored, so it is refused (or its turn not committed).

    Raised by ``session.set`` when the store's codec cannot store the value, and at the commit
    when a value set earlier was changed into something it cannot copy or store (the turn is
    then rolled back).

    Attributes:
        key: the session key holding the value.
        value_type: the type name of the value that cannot be kept (for a nested value, the
            innermost one).
    """

    def __init__(self, key: str, value: object, reason: str | None = None) -> None:
        self.key = key
        self.value_type = type(value).__name__
        if reason is None:
            reason = (
                f"session value {key!r} of type {self.value_type} cannot be copied, so the "
                "turn that set it was not committed"
            )
        super().__init__(
            f"{reason}; keep plain data in sessions (numbers, strings, lists, dicts, "
            "dataclasses...) and resources (locks, sockets, clients) elsewhere"
        )


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


class ShardUnavailableError(SessionRuntimeError):
    """The Ray shard holding the session did not answer for this event (``runtime.ray``).

    Raised when a shard stayed unreachable past the backend's ``resend_timeout`` (resends
    carry the same ``message_id``, so an event never runs twice), or when an earlier event of
    the same session never reached the shard within ``gap_timeout``. When
    ``maybe_committed`` is true the outcome is unknown: resending the event with the same
    ``message_id`` returns its stored replies if it was committed, and runs it otherwise.

    Attributes:
        shard: the shard's index.
        maybe_committed: whether the turn may have been committed before the shard was lost.
    """

    def __init__(self, message: str, *, shard: int = -1, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.shard = shard
        self.maybe_committed = maybe_committed


def describe_exception(exc: BaseException) -> str:
    """Describe ``exc`` as ``Type: text`` without trusting its ``__str__`` (it may be user code).

    Used wherever the runtime logs or wraps an exception raised by a bot or a store: a broken
    ``__str__`` or ``__repr__`` must not hide the failure or break the runtime's own handling.
    """
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        return f"{name} (its message could not be read)"
    return f"{name}: {text}" if text else name
