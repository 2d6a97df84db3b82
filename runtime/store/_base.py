"""The store protocols: ``SessionStore`` (every store) and ``DurableStore`` (every turn saved)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from runtime.session import SessionData

if TYPE_CHECKING:
    from runtime.bot import Bot
    from runtime.store._codec import Codec

__all__ = ["DurableStore", "SessionStore"]


@runtime_checkable
class SessionStore(Protocol):
    """Keep whole sessions (``SessionData`` records) by ``session_id``.

    The runtime calls a store from several threads, but never for the same session at once. A
    store owns what it is given: the runtime does not touch a saved record again, and copies
    what it loads before changing it.

    A plain store (``MemoryStore``) is given a session when it passivates and at ``stop()``. A
    store with a true ``durable`` attribute is given every committed turn before the turn's
    future resolves; a :class:`DurableStore` also encodes records itself, so the runtime can
    encode a turn while it can still be rolled back and write it as one atomic step.
    """

    def load(self, session_id: str) -> SessionData | None:
        """Return the session saved under ``session_id``, or None."""
        ...

    def save(self, data: SessionData) -> None:
        """Save ``data`` under ``data.id``, replacing what was there."""
        ...

    def delete(self, session_id: str) -> None:
        """Forget ``session_id`` (nothing happens if it is absent)."""
        ...

    def session_ids(self) -> Iterator[str]:
        """Iterate over the saved session ids."""
        ...

    def __len__(self) -> int:
        """Return how many sessions are saved."""
        ...

    def close(self) -> None:
        """Release the store's resources (files, connections)."""
        ...


@runtime_checkable
class DurableStore(SessionStore, Protocol):
    """A store that outlives the process: every committed turn is one atomic, durable write.

    Failures to reach the store raise ``StoreUnavailableError``; a record that cannot be
    decoded raises ``StoreCorruptError``.

    A durable store may also offer ``submit(session_id, payload, done)``: queue the write and
    return at once, then call ``done(None)`` once it is durable or ``done(error)`` if it
    failed, from any thread, quickly. Then session actors do not wait for writes, and turns
    committing together share one transaction. It may call ``done`` before returning, and it
    raises only if the write could not be queued at all.
    """

    durable: bool  # always True
    codec: Codec  # encodes records to bytes and back; checks values at session.set

    def bind(self, bot: Bot) -> None:
        """Serve ``bot``: its intents and its module's types decode to the bot's own objects."""
        ...

    def write(self, session_id: str, payload: bytes) -> None:
        """Replace ``session_id``'s record with ``payload`` (from ``codec.encode``) atomically.

        Returns once the write is durable (several sessions' writes may share one transaction).
        """
        ...
