"""How a turn reaches a durable store: encoded while it can be undone, written at the commit.

The commit point (:mod:`runtime.turn`) prepares a turn in two steps: :meth:`Persistence.encode`
runs while the turn can still be rolled back (a value that cannot be stored fails the turn
there, as ``SessionValueError``), and :meth:`Persistence.write` makes it durable (a store
failure fails the turn as ``StoreUnavailableError``). Non-durable stores get no persistence:
their sessions are saved when they passivate and at ``stop()``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.session import SessionData

if TYPE_CHECKING:
    from runtime.store._base import SessionStore
    from runtime.store._group import Done

__all__ = ["Persistence", "persistence_for"]


class Persistence:
    """Encode and write committed turns to one durable store.

    Attributes:
        check: called as ``check(key, value)`` by ``session.set`` (refuses values the store
            cannot keep), or None when every copyable value can be kept.
        standalone: whether loaded records share nothing with the store (decoded records do;
            a store keeping Python objects may hand out its own).
    """

    __slots__ = ("_encode", "_submit", "_write", "check", "standalone")

    def __init__(
        self,
        encode: Callable[[SessionData], object],
        write: Callable[[str, object], None],
        *,
        check: Callable[[str, object], None] | None,
        standalone: bool,
        submit: Callable[[str, Any, Done], None] | None = None,
    ) -> None:
        self._encode = encode
        self._write = write
        self._submit = submit
        self.check = check
        self.standalone = standalone

    def encode(self, record: SessionData) -> object:
        """Return what :meth:`write` stores for ``record`` (which may change right after).

        Raises:
            SessionValueError: a value cannot be stored.
        """
        return self._encode(record)

    def write(self, session_id: str, payload: object) -> None:
        """Make ``payload`` the session's stored record, durably."""
        self._write(session_id, payload)

    @property
    def background(self) -> bool:
        """Whether :meth:`submit` writes on another thread (else it calls ``done`` at once)."""
        return self._submit is not None

    def submit(self, session_id: str, payload: object, done: Done) -> None:
        """Queue :meth:`write` on the store's writer (only when :attr:`background`).

        ``done(None)`` is called once the write is durable, ``done(error)`` if it failed, on
        the writer thread (or at once, on this one).
        """
        assert self._submit is not None, "submit() needs a store that writes in the background"
        self._submit(session_id, payload, done)


def persistence_for(store: SessionStore) -> Persistence | None:
    """Return how turns are written to ``store``, or None if it is not durable.

    A store with a ``codec`` and a ``write`` method (``SqliteStore``, ``RedisStore``) gets its
    records encoded by the commit point; any other store whose ``durable`` attribute is true
    is given a standalone ``SessionData`` copy through ``save``.
    """
    if not getattr(store, "durable", False):
        return None
    codec = getattr(store, "codec", None)
    write = getattr(store, "write", None)
    if codec is not None and callable(write):
        submit = getattr(store, "submit", None)
        return Persistence(
            codec.encode,
            write,
            check=codec.check,
            standalone=True,
            submit=submit if callable(submit) else None,
        )
    save = store.save

    def save_record(session_id: str, payload: object) -> None:
        assert isinstance(payload, SessionData)
        save(payload)

    return Persistence(_standalone, save_record, check=None, standalone=False)


def _standalone(record: SessionData) -> SessionData:
    """Copy ``record`` so that nothing the live session changes later reaches it.

    The data dict is the commit's own copy already (never changed again); the history list and
    the ``message_id`` memory are the live ones and get copied.
    """
    memory = record.replies_by_message_id
    return SessionData(
        record.id,
        record.state,
        record.data,
        list(record.chat_history),
        record.predicted_intent,
        record.file,
        record.message,
        None if memory is None else OrderedDict(memory),
    )
