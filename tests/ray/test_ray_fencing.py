"""Fenced stores: a replaced shard incarnation's writes are refused (real SQLite, real Redis).

The fenced stores subclass SqliteStore and RedisStore and replace their group commit's
``_flush``: these tests pin that the base stores still write through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _redis import serve_redis

from runtime import Runtime, ShardFencedError, StoreUnavailableError
from runtime.examples.greetings import bot as greetings
from runtime.ray._fencing import (
    FencedRedisStore,
    FencedSqliteStore,
    StoreSpec,
    open_shard_store,
    spec_for,
)
from runtime.session import SessionData
from runtime.store import MemoryStore, RedisStore, SqliteStore


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _stores(kind: str, tmp_path: Path, redis_url: str) -> tuple[object, object]:
    if kind == "sqlite":
        path = str(tmp_path / "s.db")
        return FencedSqliteStore(path, fence="rt:0"), FencedSqliteStore(path, fence="rt:0")
    prefix = f"{tmp_path.name}:"
    return (
        FencedRedisStore(redis_url, fence="rt:0", prefix=prefix),
        FencedRedisStore(redis_url, fence="rt:0", prefix=prefix),
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_newer_incarnation_fences_the_writes_of_the_older_one(
    kind: str, tmp_path: Path, redis_url: str
) -> None:
    old, new = _stores(kind, tmp_path, redis_url)
    try:
        assert new.generation == old.generation + 1  # type: ignore[attr-defined]
        with pytest.raises(StoreUnavailableError) as caught:
            old.save(SessionData("s1", "initial"))  # type: ignore[attr-defined]
        assert isinstance(caught.value.__cause__, ShardFencedError)
        new.save(SessionData("s1", "hello"))  # type: ignore[attr-defined]
        loaded = old.load("s1")  # type: ignore[attr-defined]
        assert loaded is not None
        assert loaded.state == "hello"
        new.delete("s1")  # type: ignore[attr-defined]
        assert new.load("s1") is None  # type: ignore[attr-defined]
    finally:
        old.close()  # type: ignore[attr-defined]
        new.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_fenced_incarnations_turn_fails_and_commits_nothing(
    kind: str, tmp_path: Path, redis_url: str
) -> None:
    old, new = _stores(kind, tmp_path, redis_url)
    try:
        new.save(SessionData("s1", "initial"))  # type: ignore[attr-defined]
        with Runtime(greetings, store=old) as rt:  # type: ignore[arg-type]
            with pytest.raises(StoreUnavailableError) as caught:
                rt.send_message("s1", "hi").result(10)
            assert isinstance(caught.value.__cause__, ShardFencedError)
        stored = new.load("s1")  # type: ignore[attr-defined]
        assert stored is not None
        assert stored.state == "initial"
        assert stored.chat_history == []
    finally:
        old.close()  # type: ignore[attr-defined]
        new.close()  # type: ignore[attr-defined]


def test_shards_open_the_runtimes_store_by_kind(tmp_path: Path, redis_url: str) -> None:
    assert spec_for(MemoryStore()) == StoreSpec("memory")
    sqlite = SqliteStore(tmp_path / "s.db")
    redis = RedisStore(redis_url, prefix="spec:")
    try:
        assert spec_for(sqlite).location == str(tmp_path / "s.db")
        assert spec_for(redis) == StoreSpec("redis", redis_url, prefix="spec:")
    finally:
        sqlite.close()
        redis.close()
    opened, generation = open_shard_store(spec_for(sqlite), "rt:1")
    try:
        assert isinstance(opened, FencedSqliteStore)
        assert generation == 1
    finally:
        opened.close()
    with pytest.raises(TypeError, match="shard processes"):
        spec_for(object())
