"""A session store that fails on demand: for testing what a host does when storage breaks.

``FlakyStore`` wraps a real store (a ``MemoryStore`` by default) and makes chosen operations
raise, a given number of times or until healed. It is how the runtime's own tests prove that a
failing store fails the affected futures with ``StoreError``, keeps sessions intact and is
retried; bot hosts can use it the same way on their own setup.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, TypeVar

from runtime.session import SessionData
from runtime.store import MemoryStore, SessionStore

if TYPE_CHECKING:
    from runtime.bot import Bot

__all__ = ["FlakyStore", "StoreFault"]

Operation = Literal["load", "save", "delete"]
_T = TypeVar("_T")
_OPERATIONS = ("load", "save", "delete")


class StoreFault(OSError):
    """The failure a :class:`FlakyStore` injects (an ``OSError``, like a real I/O failure).

    Attributes:
        maybe_committed: whether the operation was done before the failure (a lost reply).
    """

    maybe_committed = False


class FlakyStore:
    """Wrap ``inner`` and fail chosen operations on demand.

    Args:
        inner: the real store (a new ``MemoryStore`` when None).
        durable: report this store as durable (every committed turn is saved to it); by
            default whatever ``inner`` reports.
    """

    def __init__(self, inner: SessionStore | None = None, *, durable: bool | None = None) -> None:
        self.inner: SessionStore = MemoryStore() if inner is None else inner
        self.durable = bool(getattr(self.inner, "durable", False)) if durable is None else durable
        codec = getattr(self.inner, "codec", None)
        if codec is not None:
            # A durable store that encodes (SqliteStore, RedisStore): turns reach it through
            # write(), which fails like save.
            self.codec = codec
        self.calls: Counter[str] = Counter()  # operations attempted, failed ones included
        self.failures: Counter[str] = Counter()  # operations failed on purpose
        self._left: dict[str, int | None] = {}  # operation -> failures left (None: until healed)
        self._applied: dict[str, bool] = {}  # operation -> done before failing (a lost reply)
        self._lock = threading.Lock()

    def fail(
        self, operation: Operation, times: int | None = None, *, applied: bool = False
    ) -> None:
        """Make the next ``times`` calls of ``operation`` raise (None: until :meth:`heal`).

        With ``applied``, each failing call first does the operation, then raises: the reply
        of a network store lost after the write landed. The error's ``maybe_committed`` is
        then true, as a real store reports it.
        """
        if operation not in _OPERATIONS:
            raise ValueError(f"operation must be one of {_OPERATIONS}, got {operation!r}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError(f"times must be a positive int or None, got {times!r}")
        with self._lock:
            self._left[operation] = times
            self._applied[operation] = bool(applied)

    def heal(self, operation: Operation | None = None) -> None:
        """Stop failing ``operation`` (every operation when None)."""
        with self._lock:
            if operation is None:
                self._left.clear()
            else:
                self._left.pop(operation, None)

    def _due(self, operation: str) -> bool:
        """Count a call of ``operation``; return whether it must fail."""
        with self._lock:
            self.calls[operation] += 1
            if operation not in self._left:
                return False
            left = self._left[operation]
            if left is not None:
                if left <= 1:
                    del self._left[operation]
                else:
                    self._left[operation] = left - 1
            self.failures[operation] += 1
            return True

    def _run(self, operation: str, session_id: str, call: Callable[[], _T]) -> _T:
        if not self._due(operation):
            return call()
        applied = self._applied.get(operation, False)
        if applied:
            call()
        fault = StoreFault(f"injected {operation} failure for session {session_id!r}")
        fault.maybe_committed = applied
        raise fault

    def load(self, session_id: str) -> SessionData | None:
        """Load from ``inner`` unless a load failure is due."""
        return self._run("load", session_id, lambda: self.inner.load(session_id))

    def save(self, data: SessionData) -> None:
        """Save to ``inner`` unless a save failure is due."""
        self._run("save", data.id, lambda: self.inner.save(data))

    def write(self, session_id: str, payload: bytes) -> None:
        """Write an encoded record to ``inner`` unless a save failure is due."""
        write = self.inner.write  # type: ignore[attr-defined]  # only with a codec
        self._run("save", session_id, lambda: write(session_id, payload))

    def submit(
        self, session_id: str, payload: bytes, done: Callable[[BaseException | None], object]
    ) -> None:
        """Queue a write on ``inner`` unless a save failure is due (then ``done(fault)``)."""
        inner_submit = getattr(self.inner, "submit", None)
        if self._due("save"):
            fault = StoreFault(f"injected save failure for session {session_id!r}")
            fault.maybe_committed = self._applied.get("save", False)
            if fault.maybe_committed:
                self.inner.write(session_id, payload)  # type: ignore[attr-defined]
            done(fault)
        elif inner_submit is not None:
            inner_submit(session_id, payload, done)
        else:
            try:
                self.inner.write(session_id, payload)  # type: ignore[attr-defined]
            except BaseException as exc:
                done(exc)
                return
            done(None)

    def bind(self, bot: Bot) -> None:
        """Bind ``inner``'s codec to ``bot`` (if it has one)."""
        bind = getattr(self.inner, "bind", None)
        if callable(bind):
            bind(bot)

    def delete(self, session_id: str) -> None:
        """Delete from ``inner`` unless a delete failure is due."""
        self._run("delete", session_id, lambda: self.inner.delete(session_id))

    def session_ids(self) -> Iterator[str]:
        """Iterate over ``inner``'s session ids."""
        return self.inner.session_ids()

    def __len__(self) -> int:
        return len(self.inner)

    def close(self) -> None:
        """Close ``inner``."""
        self.inner.close()
