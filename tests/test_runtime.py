"""The Runtime facade: the DESIGN.md API, validation, lifecycle, crashes, logs, stats."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from runtime import (
    Bot,
    File,
    Runtime,
    RuntimeStoppedError,
    Session,
    SessionAccessError,
    SessionCrashedError,
    SessionSnapshot,
)
from runtime.engine import Engine

TIMEOUT = 10


def greetings_bot() -> Bot:
    """The bot of DESIGN.md's example, word for word."""
    bot = Bot("greetings")
    initial = bot.new_state("initial", initial=True)
    hello = bot.new_state("hello")
    hello_intent = bot.new_intent("hello_intent", ["hello", "hi"])
    initial.when_intent_matched_go_to(hello_intent, hello)

    def hello_body(session: Session) -> None:
        session.reply("Hi! How are you?")

    hello.set_body(hello_body)
    hello.go_to(initial)
    return bot


def gated_bot(gate: threading.Event, entered: threading.Event | None = None) -> Bot:
    """Every message blocks on ``gate`` before replying with the message."""
    bot = Bot("gated")
    state = bot.new_state("s", initial=True)

    def wait(session: Session) -> None:
        if entered is not None:
            entered.set()
        assert gate.wait(TIMEOUT)
        session.reply(session.message or "")

    state.set_fallback_body(wait)
    return bot


def test_the_design_example_replies_hi() -> None:
    with Runtime(greetings_bot()) as rt:
        assert rt.send_message("alice", "hi").result(timeout=5) == ["Hi! How are you?"]


def test_open_session_runs_the_initial_body_once() -> None:
    bot = Bot("b")
    bot.new_state("s", initial=True).set_body(lambda session: session.reply("welcome"))
    with Runtime(bot) as rt:
        assert rt.open_session("a").result(TIMEOUT) == ["welcome"]
        assert rt.open_session("a").result(TIMEOUT) == []
        assert rt.send_message("b", "x").result(TIMEOUT) == ["welcome", "Sorry, I didn't get it"]
        assert rt.stats().sessions_opened == 2


def test_files_events_and_reset_go_through_the_runtime() -> None:
    bot = Bot("b")
    idle = bot.new_state("idle", initial=True)
    got = bot.new_state("got")
    idle.set_body(lambda session: session.reply("idle"))
    idle.when_file_received_go_to(got, allowed_types="text/plain")
    idle.when_event_go_to(lambda session, params: session.event is not None, got, {})
    got.set_body(lambda session: session.reply("got"))
    got.go_to(idle)
    with Runtime(bot) as rt:
        assert rt.open_session("a").result(TIMEOUT) == ["idle"]
        note = File(file_name="n.txt", file_data=b"hello")
        assert rt.send_file("a", note).result(TIMEOUT) == ["got", "idle"]
        assert rt.send_event("a", "ping", {"k": 1}).result(TIMEOUT) == ["got", "idle"]
        assert rt.reset("a").result(TIMEOUT) == ["idle"]
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.chat_history == (("idle", 0),)


def test_snapshot_is_a_frozen_copy_taken_after_the_events_sent_before_it() -> None:
    bot = Bot("b")
    state = bot.new_state("s", initial=True)

    def remember(session: Session) -> None:
        session.set("items", [*(session.get("items") or []), session.message])

    state.set_fallback_body(remember)
    with Runtime(bot) as rt:
        assert rt.snapshot("nobody") is None
        for word in ("a", "b", "c"):
            rt.send_message("u", word)
        snap = rt.snapshot("u")
        assert isinstance(snap, SessionSnapshot)
        assert snap.id == "u"
        assert snap.state == "s"
        assert snap.data == {"items": ["a", "b", "c"]}
        assert [text for text, _ in snap.chat_history] == ["a", "b", "c"]
        with pytest.raises(TypeError):
            snap.data["x"] = 1  # type: ignore[index]
        with pytest.raises(AttributeError):
            snap.state = "other"  # type: ignore[misc]
        snap.data["items"].append("mutated")
        assert rt.snapshot("u").data == {"items": ["a", "b", "c"]}  # type: ignore[union-attr]


def test_a_resent_message_id_does_not_run_the_bot_twice() -> None:
    bot = Bot("b")
    state = bot.new_state("s", initial=True)
    state.set_fallback_body(lambda session: session.reply(str(len(session.chat_history))))
    with Runtime(bot) as rt:
        first = rt.send_message("u", "x", message_id="m-1").result(TIMEOUT)
        again = rt.send_message("u", "x", message_id="m-1").result(TIMEOUT)
        assert first == again == ["1"]
        assert rt.stats().duplicates == 1
        assert rt.send_message("u", "x", message_id="m-2").result(TIMEOUT) == ["3"]


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_id", "error", "match"),
    [
        (None, TypeError, "session_id must be a str, got NoneType"),
        (42, TypeError, "session_id must be a str, got int"),
        ("", ValueError, "non-empty"),
        ("x" * 257, ValueError, "at most 256 characters, got 257"),
    ],
)
def test_bad_session_ids_are_refused_by_every_entry_point(
    session_id: Any, error: type[Exception], match: str
) -> None:
    with Runtime(greetings_bot()) as rt:
        calls = [
            lambda: rt.open_session(session_id),
            lambda: rt.send_message(session_id, "hi"),
            lambda: rt.send_file(session_id, File(file_data=b"x")),
            lambda: rt.send_event(session_id, "e"),
            lambda: rt.reset(session_id),
            lambda: rt.snapshot(session_id),
        ]
        for call in calls:
            with pytest.raises(error, match=match):
                call()
        assert rt.stats().events_accepted == 0


def test_a_session_id_of_256_characters_is_fine() -> None:
    with Runtime(greetings_bot()) as rt:
        assert rt.send_message("x" * 256, "hi").result(TIMEOUT) == ["Hi! How are you?"]


def test_bad_event_arguments_are_refused_with_what_was_expected() -> None:
    with Runtime(greetings_bot()) as rt:
        with pytest.raises(TypeError, match="text must be a str, got bytes"):
            rt.send_message("a", b"hi")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"file must be a runtime\.File, got dict"):
            rt.send_file("a", {"name": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="event name must be a non-empty str"):
            rt.send_event("a", "")
        with pytest.raises(TypeError, match="payload must be a mapping or None, got list"):
            rt.send_event("a", "e", [1])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="message_id must be a non-empty str or None"):
            rt.send_message("a", "hi", message_id=7)  # type: ignore[arg-type]
        assert rt.stats().events_accepted == 0
        assert rt.session_ids() == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"workers": 0}, "workers must be a positive int"),
        ({"workers": 4, "max_workers": 2}, "max_workers"),
        ({"max_hops": 0}, "max_hops must be a positive int"),
        ({"slice_budget": 0}, "slice_budget"),
        ({"drain_timeout": -1}, "drain_timeout"),
    ],
)
def test_bad_runtime_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Runtime(greetings_bot(), **options)


def test_a_runtime_needs_a_bot() -> None:
    with pytest.raises(TypeError, match="Runtime needs a Bot, got str"):
        Runtime("greetings")  # type: ignore[arg-type]


# -- lifecycle -------------------------------------------------------------------------------


def test_events_before_start_or_after_stop_raise_a_clear_error() -> None:
    rt = Runtime(greetings_bot())
    with pytest.raises(RuntimeStoppedError, match="not running"):
        rt.send_message("a", "hi")
    rt.start()
    rt.stop()
    with pytest.raises(RuntimeStoppedError, match="not running"):
        rt.send_message("a", "hi")
    with pytest.raises(RuntimeStoppedError):
        rt.snapshot("a")
    with pytest.raises(RuntimeStoppedError, match="cannot restart"):
        rt.start()
    assert rt.stop() is True  # stopping twice is harmless


def test_stop_drains_the_events_accepted_before_it() -> None:
    gate = threading.Event()
    rt = Runtime(gated_bot(gate)).start()
    futures = [rt.send_message(f"u{i % 3}", f"m{i}") for i in range(9)]
    stopper = concurrent.futures.ThreadPoolExecutor(1)
    stopped = stopper.submit(rt.stop, 10)
    assert not stopped.done()
    gate.set()
    assert stopped.result(TIMEOUT) is True
    assert [f.result(0) for f in futures] == [[f"m{i}"] for i in range(9)]
    stats = rt.stats()
    assert stats.events_processed == 9
    assert stats.events_pending == 0
    stopper.shutdown()


def test_stop_fails_what_it_could_not_drain_and_leaves_no_future_pending() -> None:
    gate = threading.Event()
    entered = threading.Event()
    rt = Runtime(gated_bot(gate, entered)).start()
    running = rt.send_message("u", "first")
    queued = [rt.send_message("u", f"m{i}") for i in range(5)]
    assert entered.wait(TIMEOUT)
    assert rt.stop(timeout=0.1) is False
    for future in [running, *queued]:
        assert future.done()
        with pytest.raises(RuntimeStoppedError):
            future.result(0)
    stats = rt.stats()
    assert stats.events_failed == 6
    assert stats.events_pending == 0
    gate.set()  # let the blocked body end; its late result is dropped


def test_a_cancelled_future_skips_its_turn() -> None:
    gate = threading.Event()
    entered = threading.Event()
    with Runtime(gated_bot(gate, entered)) as rt:
        first = rt.send_message("u", "first")
        assert entered.wait(TIMEOUT)
        second = rt.send_message("u", "second")
        assert second.cancel()
        third = rt.send_message("u", "third")
        gate.set()
        assert third.result(TIMEOUT) == ["third"]
        assert first.result(TIMEOUT) == ["first"]
        snap = rt.snapshot("u")
        assert snap is not None
        assert [text for text, sender in snap.chat_history if sender == 1] == ["first", "third"]
        assert rt.stats().events_failed == 1


# -- isolation of sessions -------------------------------------------------------------------


def test_a_stashed_session_cannot_touch_another_users_data() -> None:
    stash: dict[str, Session] = {}
    bot = Bot("leaky")
    state = bot.new_state("s", initial=True)

    def body(session: Session) -> None:
        session.set("owner", session.id)
        if session.id == "alice":
            stash["alice"] = session
        else:
            stash["alice"].set("owner", "mallory")  # raises SessionAccessError

    state.set_fallback_body(body)
    with Runtime(bot) as rt:
        rt.send_message("alice", "x").result(TIMEOUT)
        with capture_logs() as logs:
            rt.send_message("bob", "x").result(TIMEOUT)
        assert rt.snapshot("alice").data == {"owner": "alice"}  # type: ignore[union-attr]
        assert rt.stats().body_errors == 1
        [failure] = [e for e in logs if e["event"] == "body_failed"]
        assert failure["session_id"] == "bob"
        with pytest.raises(SessionAccessError, match="'alice' was used outside its own turn"):
            stash["alice"].reply("from the test thread")
        assert stash["alice"].id == "alice"  # the id stays readable anywhere


# -- crashes ---------------------------------------------------------------------------------


def crashing_bot(exc: BaseException) -> Bot:
    bot = Bot("crashy")
    state = bot.new_state("s", initial=True)

    def body(session: Session) -> None:
        session.set("seen", [*(session.get("seen") or []), session.message])
        if session.message == "crash":
            session.reply("never delivered")
            raise exc
        session.reply(f"ok {session.message}")

    state.set_fallback_body(body)
    return bot


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt()], ids=repr)
def test_a_base_exception_in_a_body_replaces_the_actor_and_loses_nothing(
    exc: BaseException,
) -> None:
    bystander = pykka.ThreadingActor.start()
    with Runtime(crashing_bot(exc), poison_after=1) as rt:  # one attempt: no retry
        assert rt.send_message("u", "one").result(TIMEOUT) == ["ok one"]
        with capture_logs() as logs:
            gate = [rt.send_message("u", word) for word in ("crash", "two", "three")]
            other = rt.send_message("v", "other")
            with pytest.raises(SessionCrashedError, match="while handling a message event") as info:
                gate[0].result(TIMEOUT)
            assert gate[1].result(TIMEOUT) == ["ok two"]
            assert gate[2].result(TIMEOUT) == ["ok three"]
        assert isinstance(info.value.__cause__, type(exc))
        assert other.result(TIMEOUT) == ["ok other"]
        snap = rt.snapshot("u")
        assert snap is not None
        assert snap.data == {"seen": ["one", "two", "three"]}  # the crashed turn rolled back
        assert "never delivered" not in [text for text, _ in snap.chat_history]
        stats = rt.stats()
        assert stats.actor_restarts == 1
        assert stats.events_failed == 1
        assert stats.events_processed == 4
        died = [e for e in logs if e["event"] == "session_actor_died"]
        assert died
        assert died[0]["session_id"] == "u"
        assert died[0]["event_kind"] == "message"
    assert bystander.is_alive()  # pykka's stop-every-actor reaction did not happen


def test_a_bug_in_the_runtime_kills_only_that_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Engine.run_turn
    calls = {"n": 0}

    def flaky(self: Engine, session: Session, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected fault")
        return real(self, session, *args, **kwargs)

    monkeypatch.setattr(Engine, "run_turn", flaky)
    with Runtime(crashing_bot(SystemExit()), poison_after=1) as rt:  # no retry
        first = rt.send_message("u", "one")
        second = rt.send_message("u", "two")
        third = rt.send_message("u", "three")
        assert first.result(TIMEOUT) == ["ok one"]
        with pytest.raises(SessionCrashedError) as info:
            second.result(TIMEOUT)
        assert isinstance(info.value.__cause__, RuntimeError)
        assert third.result(TIMEOUT) == ["ok three"]
        assert rt.snapshot("u").data == {"seen": ["one", "three"]}  # type: ignore[union-attr]


# -- stats -----------------------------------------------------------------------------------


def test_stats_count_what_happened() -> None:
    bot = Bot("b")
    state = bot.new_state("s", initial=True)

    def body(session: Session) -> None:
        if session.message == "fail":
            raise ValueError("bad")
        session.reply("a")
        session.reply("b")

    state.set_fallback_body(body)
    with Runtime(bot) as rt:
        for future in [rt.send_message(f"u{i % 4}", "x") for i in range(10)]:
            future.result(TIMEOUT)
        rt.send_message("u0", "fail").result(TIMEOUT)
        stats = rt.stats()
    assert stats.sessions_live == 4
    assert stats.sessions_opened == 4
    assert stats.events_accepted == 11
    assert stats.events_processed == 11
    assert stats.events_pending == 0
    assert stats.replies == 20
    assert stats.body_errors == 1
    assert stats.workers >= 2
    with pytest.raises(AttributeError):
        stats.replies = 0  # type: ignore[misc]
