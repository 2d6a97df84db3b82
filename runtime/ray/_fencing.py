"""Fencing: a shard incarnation that was replaced cannot write to the store any more.

After a node loss Ray restarts a shard elsewhere while the old incarnation may still answer for
a while (measured: about 1 s after ``remove_node``). Each incarnation takes a *generation*
from the store when it starts (:func:`open_shard_store`), and every batch it writes checks, in
the same atomic step as the writes, that its generation is still the shard's latest: a Lua
script on Redis, the write transaction on SQLite. A refused batch raises
:class:`~runtime.errors.ShardFencedError`, so its turns fail and are rolled back instead of
committing.

The fenced stores subclass ``SqliteStore`` and ``RedisStore`` and replace only their group
commit's ``_flush`` (one batch of writes); ``tests/ray/test_fencing.py`` pins what they rely on.
A memory store needs no fence: each incarnation has its own, empty one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from runtime.errors import ShardFencedError
from runtime.store import JsonCodec, MemoryStore, PickleCodec, RedisStore, SqliteStore
from runtime.store._group import Write

__all__ = ["FencedRedisStore", "FencedSqliteStore", "StoreSpec", "open_shard_store"]

_SQLITE_FENCES = "CREATE TABLE IF NOT EXISTS fences (name TEXT PRIMARY KEY, generation INTEGER)"
_SQLITE_UPSERT = (
    "INSERT INTO sessions (session_id, record) VALUES (?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET record = excluded.record"
)

# KEYS: the fence, the ids set, then one key per write; ARGV: the generation, then per write
# its op ("s" set, "d" delete), session_id and payload. All of it or nothing: the check and the
# writes are one script, which Redis runs atomically.
_REDIS_FENCED_WRITE = """
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return redis.error_reply('FENCED ' .. tostring(current))
end
for i = 3, #KEYS do
  local at = 2 + (i - 3) * 3
  if ARGV[at] == 'd' then
    redis.call('DEL', KEYS[i])
    redis.call('SREM', KEYS[2], ARGV[at + 1])
  else
    redis.call('SET', KEYS[i], ARGV[at + 2])
    redis.call('SADD', KEYS[2], ARGV[at + 1])
  end
end
return #KEYS - 2
"""


@dataclass(frozen=True)
class StoreSpec:
    """How a shard opens the Runtime's store in its own process (see :func:`spec_for`)."""

    kind: str  # "memory", "sqlite" or "redis"
    location: str = ""  # the SQLite file (absolute) or the Redis URL
    codec: str = "json"
    prefix: str = "runtime:"
    timeout: float = 5.0
    synchronous: str = "NORMAL"
    max_connections: int = 256

    @property
    def durable(self) -> bool:
        """Whether sessions outlive a shard's process."""
        return self.kind != "memory"


def spec_for(store: object) -> StoreSpec:
    """Return how shards open ``store`` (the Runtime's, opened in the driver).

    Raises:
        TypeError: a store kind shards cannot open in their own processes.
    """
    if isinstance(store, MemoryStore):
        return StoreSpec("memory")
    if isinstance(store, SqliteStore):
        return StoreSpec(
            "sqlite",
            os.path.abspath(store.path),
            codec=_codec_name(store.codec),
            timeout=store.timeout,
            synchronous=store.synchronous,
        )
    if isinstance(store, RedisStore):
        return StoreSpec(
            "redis",
            store.url,
            codec=_codec_name(store.codec),
            prefix=store.prefix,
            timeout=store.timeout,
        )
    raise TypeError(
        f"RayBackend runs sessions in shard processes, which open the store themselves: give "
        f'the Runtime a store URL ("memory", "sqlite:///path.db", "redis://host:port/0") or a '
        f"MemoryStore, SqliteStore or RedisStore, not {type(store).__name__}"
    )


def _codec_name(codec: object) -> str:
    if type(codec) is JsonCodec and not getattr(codec, "_types", ()):
        return "json"
    if type(codec) is PickleCodec:
        return "pickle"
    raise TypeError(
        "RayBackend's shards rebuild the store's codec by name: use JsonCodec() (without "
        f"types) or PickleCodec(), not {codec!r}"
    )


def open_shard_store(spec: StoreSpec, fence: str) -> tuple[Any, int]:
    """Open the store ``spec`` names for one shard incarnation; return it and its generation.

    Args:
        spec: the store.
        fence: the shard's name in the store's fences (``{backend name}:{shard index}``).
    """
    codec = PickleCodec() if spec.codec == "pickle" else JsonCodec()
    if spec.kind == "memory":
        return MemoryStore(), 0
    if spec.kind == "sqlite":
        sqlite_store = FencedSqliteStore(
            spec.location,
            fence=fence,
            codec=codec,
            synchronous=spec.synchronous,
            timeout=spec.timeout,
        )
        return sqlite_store, sqlite_store.generation
    if spec.kind == "redis":
        redis_store = FencedRedisStore(
            spec.location, fence=fence, codec=codec, prefix=spec.prefix, timeout=spec.timeout
        )
        return redis_store, redis_store.generation
    raise ValueError(f"unknown store kind {spec.kind!r}")


class FencedSqliteStore(SqliteStore):
    """An :class:`SqliteStore` whose batches commit only while its generation is the latest.

    Args:
        path: the database file.
        fence: the shard's name in the ``fences`` table; opening takes its next generation.
        kwargs: as :class:`SqliteStore`.
    """

    def __init__(self, path: str, *, fence: str, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.fence = fence
        self.generation: int = self._run(self._take_generation, write=True)

    def _take_generation(self, connection: sqlite3.Connection) -> int:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(_SQLITE_FENCES)
            connection.execute(
                "INSERT INTO fences (name, generation) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET generation = generation + 1",
                (self.fence,),
            )
            row = connection.execute(
                "SELECT generation FROM fences WHERE name = ?", (self.fence,)
            ).fetchone()
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise
        return int(row[0])

    def _flush(self, writes: list[Write]) -> None:
        self._run(lambda connection: self._write_fenced(connection, writes), write=True)

    def _write_fenced(self, connection: sqlite3.Connection, writes: list[Write]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            row = connection.execute(
                "SELECT generation FROM fences WHERE name = ?", (self.fence,)
            ).fetchone()
            if row is None or int(row[0]) != self.generation:
                raise ShardFencedError(
                    f"shard {self.fence!r} generation {self.generation} was replaced by "
                    f"generation {None if row is None else row[0]}: its writes are refused",
                    generation=self.generation,
                )
            for session_id, payload in writes:
                if payload is None:
                    connection.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
                else:
                    connection.execute(_SQLITE_UPSERT, (session_id, payload))
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the connection is dropped after a failure
            connection.execute("ROLLBACK")


class FencedRedisStore(RedisStore):
    """A :class:`RedisStore` whose batches commit only while its generation is the latest.

    Args:
        url: the server.
        fence: the shard's name; opening increments ``{prefix}fence:{fence}``.
        kwargs: as :class:`RedisStore`.
    """

    def __init__(self, url: str, *, fence: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.fence = fence
        self._fence_key = f"{self.prefix}fence:{fence}"
        self.generation: int = int(
            self._call("take a generation", self._client.incr, self._fence_key)
        )
        self._script = self._client.register_script(_REDIS_FENCED_WRITE)

    def _flush(self, writes: list[Write]) -> None:
        keys = [self._fence_key, self._ids_key]
        args: list[Any] = [str(self.generation)]
        for session_id, payload in writes:
            keys.append(self._key(session_id))
            args.extend(("d", session_id, b"") if payload is None else ("s", session_id, payload))

        def apply() -> None:
            try:
                self._script(keys=keys, args=args)
            except self._errors as exc:
                if str(exc).startswith("FENCED"):
                    raise ShardFencedError(
                        f"shard {self.fence!r} generation {self.generation} was replaced "
                        f"({exc}): its writes are refused",
                        generation=self.generation,
                    ) from None
                raise

        self._call("write", apply, applied_maybe=True)
