"""Store URLs: ``"memory"``, ``"sqlite:///path.db"``, ``"redis://host:port/0"`` to stores."""

from __future__ import annotations

import os

from runtime.store._base import SessionStore
from runtime.store._memory import MemoryStore
from runtime.store._redis import RedisStore
from runtime.store._sqlite import SqliteStore

__all__ = ["STORE_URL_FORMS", "open_store"]

STORE_URL_FORMS = (
    '"memory", "sqlite:///relative/path.db", "sqlite:////absolute/path.db" or '
    '"redis://host:port/db"'
)


def open_store(
    spec: str | SessionStore | None, *, data_dir: str | os.PathLike[str] | None = None
) -> SessionStore:
    """Return the store ``spec`` names (a store passes through unchanged).

    Args:
        spec: None or ``"memory"`` (a new :class:`MemoryStore`); ``"sqlite:///path.db"`` (a
            path relative to ``data_dir``, else to the working directory) or
            ``"sqlite:////abs/path.db"`` (four slashes: an absolute path), an
            :class:`SqliteStore`; ``"redis://host:port/db"`` or ``"rediss://..."``, a
            :class:`RedisStore`; or a store object.
        data_dir: the folder relative SQLite paths are in.

    Raises:
        TypeError: ``spec`` is neither a str nor a store.
        ValueError: the string is not a store URL this runtime knows.
    """
    if spec is None:
        return MemoryStore()
    if not isinstance(spec, str):
        if isinstance(spec, SessionStore):
            return spec
        raise TypeError(
            "store must be a store URL or implement SessionStore (load, save, delete, "
            f"session_ids, __len__, close), got {type(spec).__name__}"
        )
    scheme, sep, rest = spec.partition("://")
    scheme = scheme.lower()
    if spec == "memory" or (scheme == "memory" and sep and not rest):
        return MemoryStore()
    if scheme == "sqlite" and sep:
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ValueError(
                f"cannot use {spec!r} as a store: an SQLite URL names a file, as "
                '"sqlite:///relative/path.db" or "sqlite:////absolute/path.db"'
            )
        path = rest[1:]
        if not os.path.isabs(path) and data_dir is not None:
            path = os.path.join(os.fspath(data_dir), path)
        return SqliteStore(path)
    if scheme in ("redis", "rediss", "unix") and sep and rest:
        return RedisStore(spec)
    raise ValueError(f"cannot use {spec!r} as a store: give {STORE_URL_FORMS}")
