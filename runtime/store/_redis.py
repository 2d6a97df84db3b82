"""The Redis store: sessions shared by many processes (a cluster, a restartable gateway).

Each session is one Redis string (``{prefix}s:{session_id}``), and a set (``{prefix}ids``)
lists them. Every committed turn is one write; writes arriving together from several session
actors go in one ``MULTI``/``EXEC`` transaction (group commit, :mod:`runtime.store._group`):
no other client sees part of a batch. Redis does not undo the commands of a transaction
before one that fails, and a reply lost on the network leaves the outcome unknown, so a
failed write is reported as ``StoreUnavailableError(maybe_committed=True)``.

A committed turn is in the Redis server's memory when its future resolves: it survives this
process being killed. Surviving the *server's* crash is the server's setting: run Redis with
``appendonly yes`` (and ``appendfsync always`` to lose nothing on a power cut).

Any failure to reach the server (stopped, timed out, out of memory, read-only replica) raises
``StoreUnavailableError``; the client reconnects on the next call, so the store recovers by
itself when the server returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runtime._checks import check_positive_int, check_seconds
from runtime.errors import StoreUnavailableError
from runtime.store._codec import Codec, JsonCodec
from runtime.store._group import BatchedStore, GroupCommit, Write

if TYPE_CHECKING:
    from runtime.session import SessionData

__all__ = ["RedisStore"]


def _client_module() -> Any:
    try:
        import redis  # noqa: PLC0415  # an optional extra: imported when first used
    except ImportError as exc:  # the optional extra is not installed
        raise ImportError(
            "RedisStore needs the redis client: pip install 'runtime[redis]' (or 'redis>=5')"
        ) from exc
    return redis


class RedisStore(BatchedStore):
    """Keep sessions in a Redis server; every committed turn is durable once acknowledged.

    Args:
        url: the server, as ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
        codec: turns records into bytes and back (default: :class:`JsonCodec`).
        prefix: put before every key, so several bots can share one database.
        timeout: seconds to wait for the server (connecting and each command), and for a free
            connection.
        max_connections: connections to the server at most; threads beyond it wait for one
            (up to ``timeout``). Keep it above the backend's ``max_workers``: every worker
            may be loading a session at once.

    Raises:
        ValueError: a bad argument (a URL the client cannot parse).
        ImportError: the ``redis`` client is not installed.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        codec: Codec | None = None,
        prefix: str = "runtime:",
        timeout: float = 5.0,
        max_connections: int = 256,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        self.timeout = check_seconds("timeout", timeout)
        redis = _client_module()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        check_positive_int("max_connections", max_connections)
        try:
            # Blocking: a thread beyond max_connections waits (up to timeout) for a free
            # connection instead of failing; many session actors may load at once.
            self._pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=self.timeout,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                health_check_interval=30,
            )
            self._client = redis.Redis(connection_pool=self._pool)
        except ValueError as exc:
            raise ValueError(f"cannot use {url!r} as a Redis URL: {exc}") from exc
        self.url = url
        self.prefix = prefix
        self.codec: Codec = JsonCodec() if codec is None else codec
        self._ids_key = f"{prefix}ids"
        self._closed = False
        self._group = GroupCommit(self._flush, name="runtime-redis-writer")
        self._check_codec()

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def _call(
        self, what: str, operation: Any, *args: Any, applied_maybe: bool = False, **kwargs: Any
    ) -> Any:
        if self._closed:
            raise StoreUnavailableError(f"the Redis store at {self._safe_url()} is closed")
        try:
            return operation(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"the Redis store at {self._safe_url()} failed to {what}: "
                f"{type(exc).__name__}: {exc}",
                # A write whose reply was lost (timeout, dropped connection) may have been
                # applied; MULTI/EXEC does not undo the commands before one that failed.
                maybe_committed=applied_maybe,
            ) from exc

    def _safe_url(self) -> str:
        # Never log a password.
        head, _, tail = self.url.rpartition("@")
        return f"{self.url.split('//', 1)[0]}//***@{tail}" if head else self.url

    def _check_codec(self) -> None:
        key = f"{self.prefix}codec"
        stored = self._call("read the codec", self._client.set, key, self.codec.name, nx=True)
        if stored:
            return
        name = self._call("read the codec", self._client.get, key)
        if name is not None and name.decode() != self.codec.name:
            raise ValueError(
                f"the Redis prefix {self.prefix!r} holds sessions written with the "
                f"{name.decode()!r} codec; open it with that codec, not {self.codec.name!r}"
            )

    # -- writes -----------------------------------------------------------------------------

    def _flush(self, writes: list[Write]) -> None:
        def apply() -> None:
            pipe = self._client.pipeline(transaction=True)
            for session_id, payload in writes:
                if payload is None:
                    pipe.delete(self._key(session_id))
                    pipe.srem(self._ids_key, session_id)
                else:
                    pipe.set(self._key(session_id), payload)
                    pipe.sadd(self._ids_key, session_id)
            pipe.execute()

        self._call("write", apply, applied_maybe=True)

    # -- reads ------------------------------------------------------------------------------

    def load(self, session_id: str) -> SessionData | None:
        """Return the session saved under ``session_id``, or None."""
        payload = self._call("read", self._client.get, self._key(session_id))
        if payload is None:
            return None
        return self.codec.decode(session_id, payload)

    def session_ids(self) -> Iterator[str]:
        """Iterate over the saved session ids (read at the call: safe while sessions change)."""
        members = self._call("list sessions", self._client.smembers, self._ids_key)
        return iter(sorted(member.decode() for member in members))

    def __len__(self) -> int:
        count: int = self._call("count sessions", self._client.scard, self._ids_key)
        return count

    # -- the rest ---------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then close the connections (later calls fail).

        Waits at most ``timeout`` seconds (default: the store's ``timeout``) for the queued
        writes. The data stays on the server.
        """
        self._group.close(self.timeout if timeout is None else timeout)
        self._closed = True
        self._client.close()
        self._pool.disconnect()

    def __repr__(self) -> str:
        return f"RedisStore({self._safe_url()!r}, prefix={self.prefix!r})"
