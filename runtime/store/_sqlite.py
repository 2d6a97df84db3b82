"""The SQLite store: the embedded durable default (one file, nothing to start by hand).

Every committed turn is one row write inside a transaction; writes arriving together from
several session actors share one transaction, written by the store's writer thread (group
commit, :mod:`runtime.store._group`). The
database runs in WAL mode, so loads read while a batch commits. With ``synchronous="NORMAL"``
(the default) a committed turn survives the process being killed (``kill -9``); surviving a
power cut or an OS crash needs ``synchronous="FULL"``, which syncs the disk on every batch.

Any failure to reach the file (locked by another process past ``timeout``, read-only, disk
full, I/O error) raises ``StoreUnavailableError``; the store drops its connections and opens
fresh ones on the next call, so it recovers by itself once the file is usable again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from runtime._checks import check_seconds
from runtime.errors import StoreUnavailableError
from runtime.store._codec import Codec, JsonCodec
from runtime.store._group import BatchedStore, GroupCommit, Write

if TYPE_CHECKING:
    from runtime.session import SessionData

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_UPSERT = (
    "INSERT INTO sessions (session_id, record) VALUES (?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET record = excluded.record"
)
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

T = TypeVar("T")


class SqliteStore(BatchedStore):
    """Keep sessions in an SQLite database file; every committed turn is durable.

    Args:
        path: the database file; created (with its folder) if missing.
        codec: turns records into bytes and back (default: :class:`JsonCodec`).
        synchronous: SQLite's ``synchronous`` setting: ``"NORMAL"`` survives a killed
            process, ``"FULL"`` a power cut too (slower: a disk sync per batch).
        timeout: seconds to wait for a lock held by another connection before failing.

    Raises:
        ValueError: a bad argument, or the file was written with another codec.
        StoreUnavailableError: the file cannot be opened as a database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: Codec | None = None,
        synchronous: str = "NORMAL",
        timeout: float = 5.0,
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError(
                f"SqliteStore needs a database file path, got {self.path!r} "
                '(for sessions in memory, use store="memory")'
            )
        if not isinstance(synchronous, str) or synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.timeout = check_seconds("timeout", timeout)
        self.codec: Codec = JsonCodec() if codec is None else codec
        self._lock = threading.Lock()  # guards the idle connections and the writer
        self._idle: list[sqlite3.Connection] = []  # readers not in use
        self._writer: sqlite3.Connection | None = None
        self._closed = False
        self._group = GroupCommit(self._flush, name="runtime-sqlite-writer")
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._run(self._setup, write=True)

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailableError(f"the SQLite store {self.path!r} is closed")
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _setup(self, connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(_SCHEMA)
        row = connection.execute("SELECT value FROM meta WHERE key = 'codec'").fetchone()
        if row is None:
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('codec', ?)", (self.codec.name,)
            )
        elif row[0] != self.codec.name:
            raise ValueError(
                f"{self.path!r} holds sessions written with the {row[0]!r} codec; open it "
                f"with that codec, not {self.codec.name!r}"
            )

    def _run(self, operation: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``operation`` on a connection; turn SQLite failures into StoreUnavailableError.

        Readers take an idle connection from a small pool (WAL lets them read while a batch
        commits); the writer has its own, used by one group-commit leader at a time. A
        connection that failed is closed, never reused: the next call opens a fresh one, which
        is how the store recovers once the file is usable again.
        """
        connection: sqlite3.Connection | None = None
        try:
            with self._lock:
                if write:
                    connection, self._writer = self._writer, None
                elif self._idle:
                    connection = self._idle.pop()
            if connection is None:
                connection = self._connect()
            result = operation(connection)
        except sqlite3.Error as exc:
            if connection is not None:
                _close_quietly(connection)
            raise StoreUnavailableError(
                f"the SQLite store {self.path!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            if connection is not None:
                _close_quietly(connection)
            raise
        with self._lock:
            if self._closed:
                _close_quietly(connection)
            elif write:
                self._writer = connection
            else:
                self._idle.append(connection)
        return result

    # -- writes -----------------------------------------------------------------------------

    def _flush(self, writes: list[Write]) -> None:
        # Only the group commit's writer thread gets here: one batch at a time.
        self._run(lambda connection: _write_batch(connection, writes), write=True)

    # -- reads ------------------------------------------------------------------------------

    def load(self, session_id: str) -> SessionData | None:
        """Return the session saved under ``session_id``, or None."""
        row = self._run(
            lambda connection: connection.execute(
                "SELECT record FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        )
        if row is None:
            return None
        return self.codec.decode(session_id, bytes(row[0]))

    def session_ids(self) -> Iterator[str]:
        """Iterate over the saved session ids (read at the call: safe while sessions change)."""
        rows = self._run(
            lambda connection: connection.execute("SELECT session_id FROM sessions").fetchall()
        )
        return iter([row[0] for row in rows])

    def __len__(self) -> int:
        count: int = self._run(
            lambda connection: connection.execute("SELECT count(*) FROM sessions").fetchone()[0]
        )
        return count

    # -- the rest ---------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then close every connection (one in use, when its call ends).

        Waits at most ``timeout`` seconds (default: the store's ``timeout``) for the queued
        writes; later ones fail. The data stays in the file; later calls fail with
        StoreUnavailableError.
        """
        self._group.close(self.timeout if timeout is None else timeout)
        with self._lock:
            self._closed = True
            connections = [*self._idle, *([self._writer] if self._writer else [])]
            self._idle.clear()
            self._writer = None
        for connection in connections:
            _close_quietly(connection)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _write_batch(connection: sqlite3.Connection, writes: list[Write]) -> None:
    """Apply ``writes`` in one transaction: all of them or none."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Runs of upserts (nearly every write) go in one executemany; order is kept.
        start = 0
        for end in range(1, len(writes) + 1):
            if end < len(writes) and (writes[end][1] is None) == (writes[start][1] is None):
                continue
            run = writes[start:end]
            if run[0][1] is None:
                connection.executemany(
                    "DELETE FROM sessions WHERE session_id = ?", [(sid,) for sid, _ in run]
                )
            else:
                connection.executemany(_UPSERT, run)
            start = end
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the caller closes this connection anyway
                connection.execute("ROLLBACK")
        raise


def _close_quietly(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # a broken connection: dropping it is all we want
        connection.close()
