"""Fixtures for the store tests: a Redis to talk to, and every store kind to run a contract on.

``redis_url`` (session): a Redis for the whole run (our own ``redis-server`` when the binary is
on PATH, else ``REDIS_URL``, else the test fails). ``redis_server`` (function): a private server
the test may stop and restart. ``any_store`` / ``open_any_store`` run a test on the memory,
SQLite and Redis stores; ``durable_store`` / ``open_durable_store`` on SQLite and Redis only.
An ``open_*`` fixture is a :class:`StoreOpener`: each call opens a new store object on the same
place (file, or server and key prefix), which is how tests prove what a store keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from _redis import RedisServer, serve_redis

from runtime.store import DurableStore, MemoryStore, RedisStore, SessionStore, SqliteStore


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield ``redis://...`` of a Redis for this run; stop it at the end if we started it."""
    with serve_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Yield a private, started ``RedisServer`` the test may ``stop()`` and ``start()`` again."""
    with RedisServer.private(tmp_path / "redis") as server:
        yield server


class StoreOpener:
    """Open stores of one kind on one place; every call returns a new store object.

    For ``sqlite`` the place is one database file, for ``redis`` one server and a key prefix
    unique to the test, for ``memory`` nothing (a new ``MemoryStore`` is empty). Every store
    opened is closed after the test; a test's Redis keys are deleted then too.

    Attributes:
        kind: ``"memory"``, ``"sqlite"`` or ``"redis"``.
        path: the SQLite database file (``sqlite`` only).
        url: the Redis URL (``redis`` only).
        prefix: the test's Redis key prefix (``redis`` only).
    """

    def __init__(self, kind: str, *, path: Path | None = None, url: str | None = None) -> None:
        self.kind = kind
        self.path = path
        self.url = url
        self.prefix = f"test:{uuid4().hex}:"
        self.opened: list[SessionStore] = []

    def __call__(self, **options: Any) -> Any:
        """Open a new store on this opener's place; ``options`` go to the store's constructor."""
        store: SessionStore
        if self.kind == "memory":
            store = MemoryStore(**options)
        elif self.kind == "sqlite":
            store = SqliteStore(self.path, **options)
        else:
            store = RedisStore(self.url, prefix=self.prefix, **options)
        self.opened.append(store)
        return store

    def cleanup(self) -> None:
        """Close every store opened; delete this test's Redis keys (and no others)."""
        for store in self.opened:
            store.close()
        if self.kind == "redis":
            client = redis.Redis.from_url(self.url or "")
            try:
                for key in client.scan_iter(match=f"{self.prefix}*"):
                    client.delete(key)
            finally:
                client.close()

    def __repr__(self) -> str:
        return f"StoreOpener({self.kind!r})"


def _opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    if kind == "sqlite":
        opener = StoreOpener(kind, path=tmp_path / "sessions.db")
    elif kind == "redis":
        # Asked for here, not in the signature: memory and SQLite runs need no Redis.
        opener = StoreOpener(kind, url=request.getfixturevalue("redis_url"))
    else:
        opener = StoreOpener(kind)
    yield opener
    opener.cleanup()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def open_any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Yield a :class:`StoreOpener` for each store kind in turn (memory, sqlite, redis)."""
    yield from _opener(request.param, request, tmp_path)


@pytest.fixture
def any_store(open_any_store: StoreOpener) -> SessionStore:
    """Return an open store of each kind in turn (closed after the test)."""
    store: SessionStore = open_any_store()
    return store


@pytest.fixture(params=["sqlite", "redis"])
def open_durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Yield a :class:`StoreOpener` for each durable store kind in turn (sqlite, redis)."""
    yield from _opener(request.param, request, tmp_path)


@pytest.fixture
def durable_store(open_durable_store: StoreOpener) -> DurableStore:
    """Return an open durable store of each kind in turn; reopen it with ``open_durable_store``."""
    store: DurableStore = open_durable_store()
    return store
