"""The in-memory store: the default; records live as Python objects, nothing is encoded."""

from __future__ import annotations

from collections.abc import Iterator

from runtime.session import SessionData

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keep passivated sessions in a dict (fast, small, lost when the process ends).

    A passivated session costs only its ``SessionData`` record: the actor, its inbox and its
    ``Session`` view are dropped.
    """

    def __init__(self) -> None:
        self._records: dict[str, SessionData] = {}

    def load(self, session_id: str) -> SessionData | None:
        """Return the session saved under ``session_id``, or None."""
        return self._records.get(session_id)

    def save(self, data: SessionData) -> None:
        """Save ``data`` under ``data.id``."""
        self._records[data.id] = data

    def delete(self, session_id: str) -> None:
        """Forget ``session_id``."""
        self._records.pop(session_id, None)

    def session_ids(self) -> Iterator[str]:
        """Iterate over the saved session ids (a copy: safe while sessions come and go)."""
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def close(self, timeout: float | None = None) -> None:
        """Forget everything (``timeout`` is accepted like the durable stores'; unused)."""
        self._records.clear()

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._records)} sessions)"
