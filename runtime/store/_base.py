"""The ``SessionStore`` protocol every store implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from runtime.session import SessionData

__all__ = ["SessionStore"]


@runtime_checkable
class SessionStore(Protocol):
    """Keep whole sessions (``SessionData`` records) by ``session_id``.

    The runtime calls a store from several threads, but never for the same session at once:
    a session is saved when its actor passivates (the actor is gone by then) and loaded when it
    is activated again, both under the supervisor's activation lock. A store owns what it is
    given: the runtime does not touch a saved record again until it loads it back.
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
