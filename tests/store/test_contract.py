"""The store contract, run on every store; then how durable stores fail and recover; open_store.

The contract tests take ``any_store`` (memory, SQLite, Redis) or ``durable_store`` (SQLite,
Redis) from ``conftest.py``. The failure tests break the real thing from outside (stop the
Redis server, make the database file read-only, lock it, stop it from growing) and check that
the same store object raises ``StoreUnavailableError`` and then works again by itself.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
import redis

from runtime import Bot
from runtime.errors import StoreCorruptError, StoreUnavailableError
from runtime.session import SessionData
from runtime.store import (
    DurableStore,
    JsonCodec,
    MemoryStore,
    RedisStore,
    SessionStore,
    SqliteStore,
    open_store,
)

if TYPE_CHECKING:
    # Annotations only: importing "conftest" at run time may find another directory's.
    from _redis import RedisServer
    from conftest import StoreOpener

TIMEOUT = 30.0  # for thread joins: generous, since CI machines are slow and shared


def make_record(session_id: str, n: int = 0) -> SessionData:
    """Return a record with every field in use (all but the bot-typed intent and file)."""
    return SessionData(
        id=session_id,
        state=f"state-{n}",
        data={
            "count": n,
            "name": "Zoë ☃",
            "ratio": 0.25,
            "done": False,
            "nothing": None,
            "items": [1, "two", [3.5, None]],
            "nested": {"deep": {"list": [True, {"k": "v"}]}},
        },
        chat_history=[("hello", 1), (f"hi {n}", 0), ("", 1)],
        predicted_intent=None,
        file=None,
        message="hello",
        # Not in sorted order: the order of remembered message ids must survive.
        replies_by_message_id=OrderedDict([("m-2", ("second",)), ("m-1", ("first", "again"))]),
    )


def assert_same_record(loaded: SessionData | None, expected: SessionData) -> None:
    """Assert ``loaded`` has every field of ``expected``, with the same types and order."""
    assert loaded is not None, f"session {expected.id!r} was not found"
    assert loaded.id == expected.id
    assert loaded.state == expected.state
    assert loaded.data == expected.data
    assert loaded.chat_history == expected.chat_history
    assert isinstance(loaded.chat_history, list)
    assert all(isinstance(entry, tuple) for entry in loaded.chat_history)
    assert loaded.predicted_intent is None
    assert loaded.file is None
    assert loaded.message == expected.message
    if expected.replies_by_message_id is None:
        assert loaded.replies_by_message_id is None
    else:
        assert loaded.replies_by_message_id is not None
        assert list(loaded.replies_by_message_id.items()) == list(
            expected.replies_by_message_id.items()
        )
    assert loaded == expected


# -- the contract: every store --------------------------------------------------------------


def test_every_store_is_a_session_store_and_only_durable_ones_say_so(
    open_any_store: StoreOpener, any_store: SessionStore
) -> None:
    assert isinstance(any_store, SessionStore)
    assert getattr(any_store, "durable", False) is (open_any_store.kind != "memory")


def test_loading_an_unknown_session_returns_none(any_store: SessionStore) -> None:
    assert any_store.load("nobody") is None
    assert len(any_store) == 0
    assert list(any_store.session_ids()) == []


def test_a_saved_session_loads_with_every_field_equal(any_store: SessionStore) -> None:
    full = make_record("full", 7)
    fresh = SessionData("fresh")  # as a session is before its first turn
    any_store.save(full)
    any_store.save(fresh)
    assert_same_record(any_store.load("full"), make_record("full", 7))
    assert_same_record(any_store.load("fresh"), SessionData("fresh"))


def test_saving_again_replaces_the_session(any_store: SessionStore) -> None:
    any_store.save(make_record("a", 1))
    replacement = SessionData("a", state="other", data={"only": "this"}, message=None)
    any_store.save(replacement)
    assert_same_record(any_store.load("a"), SessionData("a", state="other", data={"only": "this"}))
    assert len(any_store) == 1


def test_deleting_removes_a_session_and_deleting_an_absent_one_is_harmless(
    any_store: SessionStore,
) -> None:
    any_store.save(make_record("a"))
    any_store.save(make_record("b"))
    any_store.delete("a")
    any_store.delete("a")
    any_store.delete("never-saved")
    assert any_store.load("a") is None
    assert_same_record(any_store.load("b"), make_record("b"))


def test_session_ids_and_len_follow_saves_and_deletes(any_store: SessionStore) -> None:
    for n in range(5):
        any_store.save(make_record(f"s{n}", n))
    any_store.save(make_record("s0", 99))  # a replacement is not a new session
    assert sorted(any_store.session_ids()) == ["s0", "s1", "s2", "s3", "s4"]
    assert len(any_store) == 5
    any_store.delete("s1")
    any_store.delete("s3")
    assert sorted(any_store.session_ids()) == ["s0", "s2", "s4"]
    assert len(any_store) == 3


UNUSUAL_IDS = [
    "ünïcödé 会话 🙂",
    "with spaces  and\ttabs",
    "colons:in:the:id",
    "ids",  # a name a store might use for its own bookkeeping
    "s:nested",
    "glob*[chars]?{a,b}",
    "back\\slash/and%20percent",
    "'; DROP TABLE sessions; --",
    "x" * 256,
]


def test_unusual_session_ids_are_kept_apart_and_listed_as_given(any_store: SessionStore) -> None:
    for n, session_id in enumerate(UNUSUAL_IDS):
        any_store.save(make_record(session_id, n))
    for n, session_id in enumerate(UNUSUAL_IDS):
        assert_same_record(any_store.load(session_id), make_record(session_id, n))
    assert sorted(any_store.session_ids()) == sorted(UNUSUAL_IDS)
    assert len(any_store) == len(UNUSUAL_IDS)
    for session_id in UNUSUAL_IDS:
        any_store.delete(session_id)
    assert len(any_store) == 0


def test_sessions_saved_from_many_threads_at_once_all_land(any_store: SessionStore) -> None:
    threads_count, per_thread = 8, 200
    start = threading.Barrier(threads_count, timeout=TIMEOUT)
    errors: list[BaseException] = []

    def save_many(t: int) -> None:
        try:
            start.wait()  # all threads save at the same time, not one after another
            for n in range(per_thread):
                any_store.save(make_record(f"t{t}-{n}", n))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=save_many, args=(t,), name=f"saver-{t}")
        for t in range(threads_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not [t.name for t in threads if t.is_alive()], "saving threads did not finish"
    assert errors == []
    expected = {f"t{t}-{n}" for t in range(threads_count) for n in range(per_thread)}
    assert set(any_store.session_ids()) == expected
    assert len(any_store) == len(expected)
    for t in range(threads_count):
        for n in range(per_thread):
            assert_same_record(any_store.load(f"t{t}-{n}"), make_record(f"t{t}-{n}", n))


# -- the contract: durable stores -----------------------------------------------------------


def test_a_durable_store_has_a_json_codec_by_default_and_serves_a_bot(
    durable_store: DurableStore,
) -> None:
    assert isinstance(durable_store, DurableStore)
    assert durable_store.durable is True
    assert isinstance(durable_store.codec, JsonCodec)
    durable_store.bind(Bot("contract"))
    durable_store.save(make_record("a"))
    assert_same_record(durable_store.load("a"), make_record("a"))


def test_everything_saved_is_still_there_after_close_and_reopen(
    durable_store: DurableStore, open_durable_store: StoreOpener
) -> None:
    for n in range(20):
        durable_store.save(make_record(f"s{n}", n))
    durable_store.save(make_record("s0", 100))
    durable_store.delete("s19")
    durable_store.close()
    durable_store.close()  # closing twice is harmless

    reopened: DurableStore = open_durable_store()
    assert sorted(reopened.session_ids()) == sorted(f"s{n}" for n in range(19))
    assert len(reopened) == 19
    assert_same_record(reopened.load("s0"), make_record("s0", 100))
    for n in range(1, 19):
        assert_same_record(reopened.load(f"s{n}"), make_record(f"s{n}", n))
    assert reopened.load("s19") is None


def test_a_payload_from_the_codec_written_directly_loads_as_the_record(
    durable_store: DurableStore,
) -> None:
    durable_store.save(SessionData("a", state="before"))
    durable_store.write("a", durable_store.codec.encode(make_record("a", 3)))
    durable_store.write("b", durable_store.codec.encode(make_record("b", 4)))
    assert_same_record(durable_store.load("a"), make_record("a", 3))
    assert_same_record(durable_store.load("b"), make_record("b", 4))
    assert sorted(durable_store.session_ids()) == ["a", "b"]


def test_a_record_that_cannot_be_decoded_raises_store_corrupt_error(
    durable_store: DurableStore,
) -> None:
    durable_store.save(make_record("good"))
    durable_store.write("bad", b"not a record")
    with pytest.raises(StoreCorruptError) as info:
        durable_store.load("bad")
    assert info.value.session_id == "bad"
    assert "bad" in str(info.value)
    # One bad record spoils nothing else, and it can be overwritten or deleted.
    assert_same_record(durable_store.load("good"), make_record("good"))
    assert sorted(durable_store.session_ids()) == ["bad", "good"]
    durable_store.save(make_record("bad", 1))
    assert_same_record(durable_store.load("bad"), make_record("bad", 1))
    durable_store.write("bad", b"\xff\xfe garbage")
    durable_store.delete("bad")
    assert durable_store.load("bad") is None


# -- Redis: a server that goes away and comes back ------------------------------------------


def test_redis_store_is_unavailable_while_its_server_is_down_and_reconnects_by_itself(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, prefix=f"test:{uuid4().hex}:", timeout=1.0)
    try:
        store.save(make_record("before"))
        redis_server.stop()

        operations: dict[str, Callable[[], object]] = {
            "load": lambda: store.load("before"),
            "save": lambda: store.save(make_record("during")),
            "write": lambda: store.write("during", store.codec.encode(make_record("during"))),
            "delete": lambda: store.delete("before"),
            "session_ids": lambda: list(store.session_ids()),
            "len": lambda: len(store),
        }
        assert _operations_not_raising(operations, StoreUnavailableError) == []

        redis_server.start()  # same port, empty: the server keeps nothing across a restart
        store.save(make_record("after"))
        assert_same_record(store.load("after"), make_record("after"))
        assert list(store.session_ids()) == ["after"]
    finally:
        store.close()


def _operations_not_raising(
    operations: dict[str, Callable[[], object]], expected: type[BaseException]
) -> list[str]:
    """Run each operation; describe those that did not raise ``expected``."""
    wrong = []
    for name, operation in operations.items():
        try:
            operation()
        except expected:
            continue
        except Exception as exc:
            wrong.append(f"{name} raised {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name} did not raise")
    return wrong


# -- SQLite: a file that cannot be written, is locked, or cannot grow -----------------------


@contextlib.contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable by this process (by root too) for the ``with`` block.

    Permission bits do not stop root, and the tests run as root in CI. The immutable attribute
    (``chattr +i``) does: with it even root cannot open the file for writing (the kernel checks
    it before any capability; setting it needs CAP_LINUX_IMMUTABLE and a file system that has
    it: ext4, xfs, btrfs). A read-only bind mount would also work, but needs a mount namespace.
    """
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    _chattr("+i", path)
    try:
        try:
            with path.open("r+b"):
                pass
        except PermissionError:
            pass
        else:
            pytest.fail(f"chattr +i did not make {path} read-only for root: cannot test this")
        yield
    finally:
        _chattr("-i", path)


def _chattr(flag: str, path: Path) -> None:
    try:
        result = subprocess.run(
            ["chattr", flag, str(path)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        pytest.fail("running as root, this test needs chattr (Debian: apt-get install e2fsprogs)")
    if result.returncode != 0:
        pytest.fail(
            f"running as root, this test makes the database read-only with chattr {flag}, "
            f"which failed (the file system of {path} may not support it): {result.stderr}"
        )


@contextlib.contextmanager
def files_cannot_grow(directory: Path) -> Iterator[None]:
    """Stop this process from growing any file past the biggest one in ``directory``.

    Emulates a full disk that root cannot bypass: with ``RLIMIT_FSIZE`` set (and its signal,
    SIGXFSZ, ignored), a write past the limit fails with EFBIG, which SQLite reports as an I/O
    error. The limit is process-wide, so it is lifted again as soon as the block ends; inside
    it, nothing but the store may write files (pytest's capture files stay small meanwhile).
    """
    limit = max(entry.stat().st_size for entry in directory.iterdir() if entry.is_file())
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_sqlite_store_refuses_to_save_to_a_read_only_file_and_recovers_by_itself(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    first = SqliteStore(path)
    first.save(make_record("before"))
    first.close()

    with read_only_file(path):
        store = SqliteStore(path)
        try:
            with pytest.raises(StoreUnavailableError):
                store.save(make_record("during"))
        except BaseException:
            store.close()
            raise
    try:
        # The same object, not a new one: it reconnects once the file is writable again.
        store.save(make_record("after"))
        assert_same_record(store.load("after"), make_record("after"))
        assert_same_record(store.load("before"), make_record("before"))
        assert store.load("during") is None
    finally:
        store.close()


def test_sqlite_store_is_unavailable_while_another_connection_locks_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    store = SqliteStore(path, timeout=0.2)
    try:
        store.save(make_record("before"))
        locker = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                store.save(make_record("during"))
            # Bounded by the store's own timeout (0.2 s), not the 5 s default.
            assert time.monotonic() - started < 3.0
        finally:
            locker.rollback()
            locker.close()
        store.save(make_record("after"))
        assert_same_record(store.load("after"), make_record("after"))
        assert store.load("during") is None
    finally:
        store.close()


def test_sqlite_store_is_unavailable_when_its_files_cannot_grow_and_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    store = SqliteStore(path)
    try:
        store.save(make_record("before"))
        big = make_record("big")
        big.data["blob"] = "x" * 2_000_000  # far bigger than any file the store has yet
        with files_cannot_grow(tmp_path), pytest.raises(StoreUnavailableError):
            store.save(big)
        assert store.load("big") is None
        store.save(big)
        assert_same_record(store.load("big"), big)
        assert_same_record(store.load("before"), make_record("before"))
    finally:
        store.close()


# -- open_store: store URLs -----------------------------------------------------------------


def test_open_store_makes_a_memory_store_from_memory() -> None:
    store = open_store("memory")
    assert isinstance(store, MemoryStore)


def test_open_store_passes_a_store_through() -> None:
    store = MemoryStore()
    assert open_store(store) is store


def test_open_store_puts_a_relative_sqlite_path_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    store = open_store("sqlite:///relative.db", data_dir=data_dir)
    try:
        assert isinstance(store, SqliteStore)
        store.save(make_record("a"))
    finally:
        store.close()
    assert (data_dir / "relative.db").is_file()
    assert not (tmp_path / "relative.db").exists()
    assert_same_record(_load_once(SqliteStore(data_dir / "relative.db"), "a"), make_record("a"))


def test_open_store_puts_a_relative_sqlite_path_in_the_working_directory_without_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///sub/relative.db")
    try:
        assert isinstance(store, SqliteStore)
        store.save(make_record("a"))
    finally:
        store.close()
    assert (tmp_path / "sub" / "relative.db").is_file()


def test_open_store_takes_four_slashes_as_an_absolute_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "path.db"
    spec = f"sqlite:///{path}"  # path starts with "/": four slashes in all
    assert spec.startswith("sqlite:////")
    store = open_store(spec, data_dir=tmp_path / "elsewhere")
    try:
        assert isinstance(store, SqliteStore)
        store.save(make_record("a"))
    finally:
        store.close()
    assert path.is_file()
    assert_same_record(_load_once(SqliteStore(path), "a"), make_record("a"))


def test_open_store_makes_a_redis_store_from_a_redis_url(redis_url: str) -> None:
    # open_store takes no prefix: the store uses the default one, "runtime:". On a server from
    # REDIS_URL, leave nothing behind that was not there before.
    client = redis.Redis.from_url(redis_url)
    codec_key_existed = client.exists("runtime:codec")
    session_id = f"test-open-store-{uuid4().hex}"
    store = open_store(redis_url)
    try:
        assert isinstance(store, RedisStore)
        store.save(make_record(session_id))
        assert_same_record(store.load(session_id), make_record(session_id))
        store.delete(session_id)
    finally:
        store.close()
        if not codec_key_existed:
            client.delete("runtime:codec")
        client.close()


@pytest.mark.parametrize("spec", ["postgres://x", "", "nonsense", "sqlite:"])
def test_open_store_rejects_an_unknown_url_saying_what_it_accepts(spec: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as info:
        open_store(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert "memory" in message
    assert "redis://" in message


@pytest.mark.parametrize("spec", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_open_store_rejects_an_sqlite_url_without_a_file_saying_how_to_name_one(
    spec: str,
) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as info:
        open_store(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize("spec", [42, b"memory", ["memory"], object()])
def test_open_store_rejects_what_is_neither_a_url_nor_a_store(spec: object) -> None:
    with pytest.raises(TypeError, match="store"):
        open_store(spec)  # type: ignore[arg-type]


def _load_once(store: SqliteStore, session_id: str) -> SessionData | None:
    try:
        return store.load(session_id)
    finally:
        store.close()
