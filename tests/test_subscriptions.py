"""Runtime.subscribe: every committed turn of a session, in turn order, before its future."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
from structlog.testing import capture_logs

from runtime import (
    Bot,
    Event,
    Runtime,
    Session,
    SessionCrashedError,
    TurnKind,
    TurnTimeoutError,
)

TIMEOUT = 10


def chat_bot(gate: threading.Event | None = None) -> Bot:
    """Counts messages; "hold" waits for ``gate``; "crash" raises SystemExit; "ping" pongs."""
    bot = Bot("chat")
    initial = bot.new_state("s", initial=True)
    pinged = bot.new_state("pinged")
    initial.set_body(lambda session: session.reply(f"welcome {session.id}"))

    def count(session: Session) -> None:
        if session.message == "hold" and gate is not None:
            assert gate.wait(TIMEOUT)
        if session.message == "crash":
            raise SystemExit(1)
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.message}:{session.get('n')}")

    initial.set_fallback_body(count)
    initial.when_event_go_to(
        lambda session, params: session.event is not None and session.event.name == "ping",
        pinged,
    )

    def pong(session: Session) -> None:
        assert session.event is not None
        session.reply(f"pong {session.event.payload['n']}")

    pinged.set_body(pong)
    pinged.go_to(initial)
    return bot


def test_a_subscriber_gets_every_committed_turn_of_its_session_in_turn_order() -> None:
    deliveries: list[tuple[Event, list[str]]] = []
    with Runtime(chat_bot()) as rt:
        subscription = rt.subscribe("a", lambda event, replies: deliveries.append((event, replies)))
        futures = [rt.send_message("a", str(i)) for i in range(5)]
        rt.send_message("b", "not yours").result(TIMEOUT)
        results = [future.result(TIMEOUT) for future in futures]
        assert [replies for _, replies in deliveries] == results
        assert [event.payload for event, _ in deliveries] == ["0", "1", "2", "3", "4"]
        assert {event.session_id for event, _ in deliveries} == {"a"}
        assert rt.stats().subscribers == 1
        subscription.cancel()
        assert rt.stats().subscribers == 0


def test_turns_started_by_send_event_from_another_thread_are_delivered() -> None:
    deliveries: list[tuple[Event, list[str]]] = []
    with Runtime(chat_bot()) as rt:
        rt.subscribe("a", lambda event, replies: deliveries.append((event, replies)))
        assert rt.send_message("a", "hi").result(TIMEOUT) == ["welcome a", "hi:1"]
        with concurrent.futures.ThreadPoolExecutor(1) as webhook:
            sent = webhook.submit(rt.send_event, "a", "ping", {"n": 7}).result(TIMEOUT)
        assert sent.result(TIMEOUT) == ["pong 7", "welcome a"]  # back to the initial state
        assert len(deliveries) == 2
        event, replies = deliveries[1]
        assert (event.kind, replies) == (TurnKind.EVENT, ["pong 7", "welcome a"])
        assert event.payload.name == "ping"


def test_a_turn_is_delivered_to_subscribers_before_its_future_resolves() -> None:
    gate = threading.Event()
    sent: list[concurrent.futures.Future[list[str]]] = []
    pending_at_delivery: list[bool] = []
    with Runtime(chat_bot(gate)) as rt:
        rt.subscribe("a", lambda event, replies: pending_at_delivery.append(not sent[0].done()))
        sent.append(rt.send_message("a", "hold"))
        gate.set()
        assert sent[0].result(TIMEOUT) == ["welcome a", "hold:1"]
        assert pending_at_delivery == [True]


def test_failed_turns_are_not_delivered() -> None:
    deliveries: list[list[str]] = []
    with Runtime(chat_bot()) as rt:
        rt.subscribe("a", lambda event, replies: deliveries.append(replies))
        rt.send_message("a", "x").result(TIMEOUT)
        with pytest.raises(SessionCrashedError):
            rt.send_message("a", "crash").result(TIMEOUT)
        rt.send_message("a", "y").result(TIMEOUT)
        assert deliveries == [["welcome a", "x:1"], ["y:2"]]


def test_a_turn_that_timed_out_is_not_delivered_even_once_its_body_returns() -> None:
    gate = threading.Event()
    deliveries: list[list[str]] = []
    with Runtime(chat_bot(gate), turn_timeout=0.2) as rt:
        rt.subscribe("a", lambda event, replies: deliveries.append(replies))
        rt.send_message("a", "x").result(TIMEOUT)
        held = rt.send_message("a", "hold")
        after = rt.send_message("a", "y")
        try:
            with pytest.raises(TurnTimeoutError):
                held.result(TIMEOUT)
        finally:
            gate.set()
        assert after.result(TIMEOUT) == ["y:2"]
        assert deliveries == [["welcome a", "x:1"], ["y:2"]]


def test_a_raising_subscriber_is_logged_and_dropped_and_the_others_still_get_the_turn() -> None:
    deliveries: list[list[str]] = []

    def broken(event: Event, replies: list[str]) -> None:
        raise RuntimeError("subscriber bug")

    with Runtime(chat_bot()) as rt, capture_logs() as logs:
        rt.subscribe("a", broken)
        rt.subscribe("a", lambda event, replies: deliveries.append(replies))
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome a", "x:1"]
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]
    assert deliveries == [["welcome a", "x:1"], ["y:2"]]
    failures = [log for log in logs if log["event"] == "subscriber_failed"]
    assert len(failures) == 2
    assert failures[0]["session_id"] == "a"


def test_a_subscription_used_as_a_context_manager_stops_delivering_when_it_exits() -> None:
    deliveries: list[list[str]] = []
    with Runtime(chat_bot()) as rt:
        with rt.subscribe("a", lambda event, replies: deliveries.append(replies)):
            rt.send_message("a", "x").result(TIMEOUT)
        rt.send_message("a", "y").result(TIMEOUT)
        assert deliveries == [["welcome a", "x:1"]]


def test_a_subscriber_gets_the_submitted_event_object_when_it_subscribed_first() -> None:
    # A connection tells its own turns from others' by identity (runtime.subscriptions); a
    # turn submitted before anyone subscribed is delivered as an equal Event.
    gate, entered = threading.Event(), threading.Event()
    bot = Bot("b")

    def body(session: Session) -> None:
        entered.set()
        assert gate.wait(TIMEOUT)
        session.reply("ok")

    bot.new_state("s", initial=True).set_fallback_body(body)
    with Runtime(bot) as rt:
        early = Event.message("a", "early")
        early_future = rt.submit(early)  # nobody subscribed yet
        assert entered.wait(TIMEOUT)  # its body runs: the events below queue behind it
        got: list[Event] = []
        rt.subscribe("a", lambda event, replies: got.append(event))
        mine = Event.message("a", "mine")
        mine_future = rt.submit(mine)
        gate.set()
        assert early_future.result(TIMEOUT) == ["ok"]
        assert mine_future.result(TIMEOUT) == ["ok"]
    assert got == [early, mine]
    assert got[1] is mine
