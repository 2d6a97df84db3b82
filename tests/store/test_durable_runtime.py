"""A Runtime on a durable store (SQLite, Redis): restarts, exactly-once, bad values, outages.

Every test runs on a real SQLite file and a real ``redis-server``; "a restart" is a new
Runtime *and* a new store object on the same file or server, as after the process died.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from _redis import RedisServer
from conftest import StoreOpener

from runtime import (
    Bot,
    Event,
    File,
    IntentClassifierPrediction,
    Runtime,
    Session,
    SessionValueError,
    StoreCorruptError,
    StoreUnavailableError,
    fallback_intent,
)
from runtime._future import ReplyFuture
from runtime.replies import typed
from runtime.store import JsonCodec, PickleCodec, RedisStore, SqliteStore
from runtime.testing import FlakyStore

TIMEOUT = 10


@dataclasses.dataclass(frozen=True)
class Item:
    """A value of the bot's own module: the JSON codec stores it after bind(bot)."""

    name: str
    tags: tuple[str, ...] = ()


class Ledger:
    """A bot that keeps a list of items; it counts how often its bodies run."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.bot = Bot("ledger")
        start = self.bot.new_state("start", initial=True)
        idle = self.bot.new_state("idle")
        self.hello = self.bot.new_intent("hello", ["hello"])
        start.set_body(lambda session: session.reply("ready"))
        start.go_to(idle)
        pinged = self.bot.new_state("pinged")
        greeted = self.bot.new_state("greeted")
        idle.when_intent_matched_go_to(self.hello, greeted)
        greeted.set_body(lambda session: session.reply("hi"))
        greeted.go_to(idle)
        idle.set_fallback_body(self.body)
        idle.when_event_go_to(is_ping, pinged, {})
        pinged.set_body(self.on_event)
        pinged.go_to(idle)

    def body(self, session: Session) -> None:
        message = session.message or ""
        self.ran.append(message)
        if message == "lock":
            try:
                session.set("mutex", threading.Lock())
            except SessionValueError as exc:
                session.reply(f"refused: {exc}")
            return
        if message == "smuggle":
            # Accepted at set time, then changed in place into something unstorable.
            items = session.get("items")
            items.append(threading.Lock())
            session.reply("smuggled")
            return
        items = [*(session.get("items") or []), Item(message, ("x",))]
        session.set("items", items)
        session.reply(f"{len(items)}:{message}")

    def on_event(self, session: Session) -> None:
        prediction = session.predicted_intent
        same = prediction is not None and prediction.intent is self.hello
        session.reply(f"intent is the bot's own: {same}")


def is_ping(session: Session, params: dict[str, Any]) -> bool:
    return session.event is not None and session.event.name == "ping"


def names(rt: Runtime, session_id: str) -> list[str]:
    snapshot = rt.snapshot(session_id)
    assert snapshot is not None
    return [item.name for item in snapshot.data["items"]]


def test_a_restarted_runtime_continues_every_session_where_it_was(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        for user in ("ann", "bob"):
            for word in ("a", "b"):
                rt.send_message(user, word).result(TIMEOUT)
        history = rt.snapshot("ann").chat_history  # type: ignore[union-attr]
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        assert sorted(rt.session_ids()) == ["ann", "bob"]
        assert rt.snapshot("ann").chat_history == history  # type: ignore[union-attr]
        assert rt.send_message("ann", "c").result(TIMEOUT) == ["3:c"]
        assert names(rt, "ann") == ["a", "b", "c"]
        assert rt.snapshot("ann").data["items"][0] == Item("a", ("x",))  # type: ignore[union-attr]
        assert rt.stats().rehydrations >= 1


def test_a_resend_after_a_restart_returns_the_stored_replies_without_running_a_body(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        first = rt.send_message("u", "a", message_id="m1").result(TIMEOUT)
    assert ledger.ran == ["a"]
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        assert rt.send_message("u", "a", message_id="m1").result(TIMEOUT) == first
        assert ledger.ran == ["a"]  # no body ran for the resend
        assert rt.stats().duplicates == 1
        assert names(rt, "u") == ["a"]


def rich_bot(ran: list[str]) -> Bot:
    """Answers every message with a text, a markdown, an options and a file reply."""
    bot = Bot("rich")

    def body(session: Session) -> None:
        ran.append(session.message or "")
        session.reply(f"got {session.message}")
        session.reply_markdown(f"**{session.message}**")
        session.reply_options(["yes", "no"])
        session.reply_file(File(file_name="a.txt", file_data=b"abc"))

    bot.new_state("start", initial=True).set_fallback_body(body)
    return bot


def kinds(texts: Any) -> list[tuple[str, str, Any]]:
    return [(r.kind, str(r), r.content) for r in typed(texts)]


@pytest.mark.parametrize("codec", [JsonCodec, PickleCodec])
def test_rich_replies_survive_a_restart_in_the_history_and_for_resends(
    open_durable_store: StoreOpener, codec: type[JsonCodec | PickleCodec]
) -> None:
    ran: list[str] = []
    bot = rich_bot(ran)
    with Runtime(bot, store=open_durable_store(codec=codec())) as rt:
        first = rt.send_message("u", "a", message_id="m1")
        assert first.result(TIMEOUT) == ["got a"]
        assert isinstance(first, ReplyFuture)
        sent = kinds(first.typed_result(TIMEOUT))
        history = rt.snapshot("u").chat_history  # type: ignore[union-attr]
    assert [kind for kind, _, _ in sent] == ["text", "markdown", "options", "file"]
    with Runtime(bot, store=open_durable_store(codec=codec())) as rt:
        restored = rt.snapshot("u").chat_history  # type: ignore[union-attr]
        assert restored == history
        assert kinds(text for text, _ in restored) == kinds(text for text, _ in history)
        again = rt.send_message("u", "a", message_id="m1")
        assert again.result(TIMEOUT) == ["got a"]
        assert isinstance(again, ReplyFuture)
        assert kinds(again.typed_result(TIMEOUT)) == sent
        assert rt.stats().duplicates == 1
    assert ran == ["a"]


def test_the_message_id_window_is_bounded_and_configurable(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=open_durable_store(), message_id_window=2) as rt:
        for i in range(3):
            rt.send_message("u", f"w{i}", message_id=f"m{i}").result(TIMEOUT)
    with Runtime(ledger.bot, store=open_durable_store(), message_id_window=2) as rt:
        assert rt.send_message("u", "w2", message_id="m2").result(TIMEOUT) == ["3:w2"]
        # m0 fell out of the window of 2: its resend runs again.
        assert rt.send_message("u", "w0", message_id="m0").result(TIMEOUT) == ["4:w0"]
    assert ledger.ran == ["w0", "w1", "w2", "w0"]


def test_a_value_the_store_cannot_keep_is_refused_at_set_naming_key_and_type(
    durable_store: Any,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=durable_store) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        (reply,) = rt.send_message("u", "lock").result(TIMEOUT)
        snapshot = rt.snapshot("u")
    assert reply.startswith("refused: ")
    assert "'mutex'" in reply  # the key
    assert "lock" in reply  # the type (threading.Lock's is _thread.lock)
    assert snapshot is not None
    assert "mutex" not in snapshot.data


def test_a_value_changed_in_place_into_an_unstorable_one_fails_its_turn_and_keeps_nothing(
    durable_store: Any,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=durable_store) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        before = rt.snapshot("u")
        with pytest.raises(SessionValueError) as info:
            rt.send_message("u", "smuggle").result(TIMEOUT)
        assert info.value.key == "items"
        assert rt.snapshot("u") == before
        assert rt.send_message("u", "b").result(TIMEOUT) == ["2:b"]
        assert rt.stats().value_errors == 1


def test_intents_come_back_as_the_bot_s_own_objects_after_a_restart(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        rt.send_message("u", "hello").result(TIMEOUT)
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        assert rt.send_event("u", "ping").result(TIMEOUT) == ["intent is the bot's own: True"]


def test_subscribers_get_a_turn_s_replies_only_once_it_is_in_the_store(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    reader = open_durable_store()  # another connection, as another process would have
    reader.bind(ledger.bot)  # it decodes the bot's own types
    seen: list[tuple[list[str], list[str]]] = []
    delivered = threading.Event()

    def callback(event: Event, replies: list[str]) -> None:
        record = reader.load(event.session_id)
        seen.append((replies, [item.name for item in record.data["items"]]))
        delivered.set()

    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        rt.subscribe("u", callback)
        rt.send_event("u", "ping")  # replies nobody asked for: pushed to the subscriber
        future = rt.send_message("u", "b")
        assert future.result(TIMEOUT) == ["2:b"]
        assert delivered.wait(TIMEOUT)
    assert seen[-1] == (["2:b"], ["a", "b"])  # durable before the subscriber heard of it


def test_a_corrupt_record_fails_its_events_and_stays_in_the_store_for_repair(
    durable_store: Any,
) -> None:
    ledger = Ledger()
    durable_store.write("broken", b"not a record")
    with Runtime(ledger.bot, store=durable_store) as rt:
        with pytest.raises(StoreCorruptError) as info:
            rt.send_message("broken", "a").result(TIMEOUT)
        assert info.value.session_id == "broken"
        assert rt.send_message("fine", "a").result(TIMEOUT) == ["ready", "1:a"]
    with pytest.raises(StoreCorruptError):
        durable_store.load("broken")  # untouched


# -- outages ---------------------------------------------------------------------------------


def test_a_stopped_redis_fails_turns_as_unavailable_and_the_runtime_recovers_by_itself(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    with (
        RedisServer.private(tmp_path / "redis", persistent=True) as redis_server,
        Runtime(ledger.bot, store=RedisStore(redis_server.url, timeout=0.5)) as rt,
    ):
        store = rt.store
        assert rt.send_message("u", "a").result(TIMEOUT) == ["ready", "1:a"]
        redis_server.stop()
        with pytest.raises(StoreUnavailableError):
            rt.send_message("u", "lost").result(TIMEOUT)
        with pytest.raises(StoreUnavailableError):
            rt.send_message("new-user", "x").result(TIMEOUT)  # its load fails
        redis_server.start()  # with its append-only file: everything acknowledged is back
        assert rt.send_message("u", "b").result(TIMEOUT) == ["2:b"]
        assert names(rt, "u") == ["a", "b"]  # the failed turn left no trace, live or stored
        assert store.load("u") is not None
        assert [item.name for item in store.load("u").data["items"]] == ["a", "b"]  # type: ignore[union-attr]
        assert rt.stats().store_errors >= 2


def test_a_locked_sqlite_file_fails_turns_as_unavailable_and_the_runtime_recovers(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    path = tmp_path / "sessions.db"
    store = SqliteStore(path, timeout=0.2)
    with Runtime(ledger.bot, store=store) as rt:
        assert rt.send_message("u", "a").result(TIMEOUT) == ["ready", "1:a"]
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        try:
            with pytest.raises(StoreUnavailableError, match="locked"):
                rt.send_message("u", "lost").result(TIMEOUT)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert rt.send_message("u", "b").result(TIMEOUT) == ["2:b"]
        assert names(rt, "u") == ["a", "b"]
    reopened = SqliteStore(path)
    reopened.bind(ledger.bot)
    assert [item.name for item in reopened.load("u").data["items"]] == ["a", "b"]  # type: ignore[union-attr]
    reopened.close()


def test_many_sessions_commit_concurrently_and_every_turn_lands_once(
    durable_store: Any, open_durable_store: StoreOpener
) -> None:
    ledger = Ledger()
    with Runtime(ledger.bot, store=durable_store) as rt:
        futures: list[concurrent.futures.Future[list[str]]] = []
        for round_ in range(5):
            futures += [rt.send_message(f"u{i}", f"r{round_}") for i in range(40)]
        for future in futures:
            future.result(TIMEOUT)
    reopened = open_durable_store()
    reopened.bind(ledger.bot)
    for i in range(40):
        record = reopened.load(f"u{i}")
        assert [item.name for item in record.data["items"]] == [f"r{r}" for r in range(5)]
    stats = durable_store.statistics()
    assert stats["writes"] == 200  # one write per turn (a first message opens in its turn)


def test_a_write_whose_reply_was_lost_reloads_the_session_and_a_resend_runs_nothing_twice(
    durable_store: Any,
) -> None:
    # The store applies the write, then the reply is lost (a dropped connection to Redis).
    ledger = Ledger()
    store = FlakyStore(durable_store)
    with Runtime(ledger.bot, store=store) as rt:
        rt.send_message("u", "a", message_id="m1").result(TIMEOUT)
        store.fail("save", 1, applied=True)
        with pytest.raises(StoreUnavailableError) as info:
            rt.send_message("u", "b", message_id="m2").result(TIMEOUT)
        assert info.value.maybe_committed
        assert "resend it with the same message_id" in str(info.value)
        # The session was reloaded from the store: memory agrees with what the store has.
        assert names(rt, "u") == ["a", "b"]
        assert rt.send_message("u", "b", message_id="m2").result(TIMEOUT) == ["2:b"]
        assert ledger.ran == ["a", "b"]  # the resend ran no body
        assert rt.send_message("u", "c").result(TIMEOUT) == ["3:c"]


def test_a_write_that_surely_failed_is_not_in_the_store_nor_in_memory(durable_store: Any) -> None:
    ledger = Ledger()
    store = FlakyStore(durable_store)
    with Runtime(ledger.bot, store=store) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        store.fail("save", 1)
        with pytest.raises(StoreUnavailableError) as info:
            rt.send_message("u", "b", message_id="m2").result(TIMEOUT)
        assert not info.value.maybe_committed
        assert "had no effect" in str(info.value)
        assert names(rt, "u") == ["a"]
        assert rt.send_message("u", "b", message_id="m2").result(TIMEOUT) == ["2:b"]
        assert ledger.ran == ["a", "b", "b"]


class SloppyClassifier:
    """A custom classifier whose predictions lack a matched sentence (None, not a str)."""

    def predict(self, message: str, intents: Any) -> IntentClassifierPrediction:
        return IntentClassifierPrediction(fallback_intent, 0.0, None)  # type: ignore[arg-type]


def test_a_malformed_prediction_is_a_classifier_error_and_the_session_stays_loadable(
    open_durable_store: StoreOpener,
) -> None:
    ledger = Ledger()
    ledger.bot.set_classifier(SloppyClassifier())
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        assert rt.send_message("u", "a").result(TIMEOUT) == ["ready", "1:a"]
        assert rt.stats().classifier_errors == 1
    with Runtime(ledger.bot, store=open_durable_store()) as rt:
        assert rt.send_message("u", "b").result(TIMEOUT) == ["2:b"]


# -- turns whose write runs on the store's writer thread ---------------------------------------


def test_a_blocked_subscriber_does_not_hold_up_other_sessions_commits(tmp_path: Path) -> None:
    ledger = Ledger()
    blocking = threading.Event()
    release = threading.Event()

    def slow_subscriber(event: Event, replies: list[str]) -> None:
        blocking.set()
        assert release.wait(TIMEOUT)

    with Runtime(ledger.bot, store=f"sqlite:///{tmp_path / 's.db'}") as rt:
        rt.subscribe("slow", slow_subscriber)
        slow = rt.send_message("slow", "a")
        assert blocking.wait(TIMEOUT)  # its subscriber now blocks (on a worker, not the writer)
        others = [rt.send_message(f"u{i}", "a") for i in range(20)]
        assert [f.result(TIMEOUT) for f in others] == [["ready", "1:a"]] * 20
        assert not slow.done()  # still in its subscriber: the others did not wait for it
        release.set()
        assert slow.result(TIMEOUT) == ["ready", "1:a"]


def test_stop_from_a_reply_callback_on_a_durable_store_drains_every_turn(tmp_path: Path) -> None:
    ledger = Ledger()
    rt = Runtime(ledger.bot, store=f"sqlite:///{tmp_path / 's.db'}").start()
    drained: list[bool] = []
    futures = [rt.send_message(f"u{i}", "a") for i in range(20)]
    futures[0].add_done_callback(lambda _: drained.append(rt.stop(timeout=TIMEOUT)))
    for future in futures:
        assert future.result(TIMEOUT) == ["ready", "1:a"]
    rt.stop()
    assert drained == [True]


class QueueRefusingStore(SqliteStore):
    """An SQLite store whose writer cannot take the next write (a thread that cannot start)."""

    refuse = 0

    def submit(self, session_id: str, payload: bytes, done: Any) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RuntimeError("can't start new thread")
        super().submit(session_id, payload, done)


def test_a_write_the_store_cannot_queue_fails_its_turn_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    store = QueueRefusingStore(tmp_path / "s.db")
    with Runtime(ledger.bot, store=store) as rt:
        rt.send_message("u", "a").result(TIMEOUT)
        store.refuse = 1
        with pytest.raises(StoreUnavailableError, match="can't start new thread"):
            rt.send_message("u", "b").result(TIMEOUT)
        assert rt.send_message("u", "c").result(TIMEOUT) == ["2:c"]
        assert names(rt, "u") == ["a", "c"]
    store.close()
