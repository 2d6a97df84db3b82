"""The backend seam: what the Runtime facade needs from whatever runs the sessions.

``Runtime`` validates input, builds :class:`~runtime.event.Event` objects and keeps its own
lifecycle; a *backend* runs the sessions. :class:`~runtime.backends.ThreadBackend` (pooled
session actors on threads of this process) is the default; a scale-out backend (session shards
on Ray) implements the same protocol.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from runtime._checks import check_positive_int, check_seconds, optional_bound

if TYPE_CHECKING:
    from runtime.bot import Bot
    from runtime.event import Event
    from runtime.session import SessionSnapshot
    from runtime.stats import RuntimeStats
    from runtime.store import SessionStore
    from runtime.subscriptions import ReplyCallback, Subscription

__all__ = ["Backend", "RuntimeConfig"]


@dataclass(frozen=True)
class RuntimeConfig:
    """The Runtime options a backend applies (validated by ``Runtime``; see its docstring)."""

    idle_timeout: float | None = None
    max_live_sessions: int | None = None
    max_session_queue: int | None = 10_000
    max_pending: int | None = 1_000_000
    max_hops: int = 64
    max_history: int | None = None
    turn_timeout: float | None = None
    message_id_window: int = 128
    poison_after: int = 3
    restart_backoff: float = 0.01

    @classmethod
    def checked(
        cls,
        *,
        idle_timeout: float | None,
        max_live_sessions: int | None,
        max_session_queue: int | None,
        max_pending: int | None,
        max_hops: int,
        max_history: int | None,
        turn_timeout: float | None,
        message_id_window: int,
        poison_after: int,
        restart_backoff: float,
    ) -> RuntimeConfig:
        """Return a config of these options, each checked (the ``Runtime`` arguments).

        Raises:
            TypeError, ValueError: an option is out of range or of the wrong type.
        """
        if idle_timeout is not None:
            check_seconds("idle_timeout", idle_timeout)
        if turn_timeout is not None:
            check_seconds("turn_timeout", turn_timeout)
        if not isinstance(max_hops, int) or isinstance(max_hops, bool) or max_hops < 1:
            raise ValueError(f"max_hops must be a positive int, got {max_hops!r}")
        check_positive_int("message_id_window", message_id_window)
        check_positive_int("poison_after", poison_after)
        check_seconds("restart_backoff", restart_backoff, allow_zero=True)
        return cls(
            idle_timeout=idle_timeout,
            max_live_sessions=optional_bound("max_live_sessions", max_live_sessions),
            max_session_queue=optional_bound("max_session_queue", max_session_queue),
            max_pending=optional_bound("max_pending", max_pending),
            max_hops=max_hops,
            max_history=optional_bound("max_history", max_history, minimum=0),
            turn_timeout=turn_timeout,
            message_id_window=message_id_window,
            poison_after=poison_after,
            restart_backoff=float(restart_backoff),
        )


@runtime_checkable
class Backend(Protocol):
    """Run the sessions of one Runtime. A backend is started once and closed once."""

    def start(self, bot: Bot, store: SessionStore, config: RuntimeConfig) -> None:
        """Start serving ``bot`` (already frozen), keeping sessions in ``store``."""
        ...

    def submit(self, event: Event) -> concurrent.futures.Future[list[str]]:
        """Accept ``event`` (validated) and return the future of its replies.

        The future fails with ``OverloadedError`` at once when a bound refuses the event, with
        ``RuntimeStoppedError`` when the backend closes first; a failed future means the turn
        committed nothing, a resolved one that it committed everything.

        Raises:
            RuntimeStoppedError: the backend is not running.
        """
        ...

    def snapshot(self, session_id: str, timeout: float) -> SessionSnapshot | None:
        """Return the session's committed state after the events already sent to it."""
        ...

    def passivate(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Move a live session to the store once the events sent before are handled."""
        ...

    def forget(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Erase a session, live and stored, once the events sent before are handled."""
        ...

    def subscribe(self, session_id: str, callback: ReplyCallback) -> Subscription:
        """Deliver the session's committed turns to ``callback``, in turn order."""
        ...

    def session_ids(self) -> list[str]:
        """Return the ids of every session, live or stored."""
        ...

    def stats(self) -> RuntimeStats:
        """Return the counters now."""
        ...

    def close(self, timeout: float) -> bool:
        """Stop accepting, drain for at most ``timeout`` seconds, fail the rest, stop.

        Returns:
            True if every accepted event was handled, False if some were failed.
        """
        ...
