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
