"""Passivation: idle or least-recently-used sessions move to the store and come back intact."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from runtime import Bot, Runtime, Session
from runtime.store import MemoryStore

TIMEOUT = 10


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (a bounded wait, not a sleep)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return condition()


def counter_bot(gate: threading.Event | None = None, entered: threading.Event | None = None) -> Bot:
    bot = Bot("counter")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply(f"welcome {session.id}"))

    def count(session: Session) -> None:
        if entered is not None:
            entered.set()
        if gate is not None:
            assert gate.wait(TIMEOUT)
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.id}:{session.message}:{session.get('n')}")

    state.set_fallback_body(count)
    return bot


def test_a_passivated_session_comes_back_with_everything_on_its_next_event() -> None:
    store = MemoryStore()
    with Runtime(counter_bot(), store=store) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome a", "a:x:1"]
        assert rt.passivate("a").result(TIMEOUT) is True
        stats = rt.stats()
        assert (stats.sessions_live, stats.sessions_passivated, stats.passivations) == (0, 1, 1)
        assert store.load("a") is not None
        snap = rt.snapshot("a")  # read from the store, without activating
        assert snap is not None
        assert snap.data == {"n": 1}
        assert rt.stats().sessions_live == 0
        assert rt.send_message("a", "y").result(TIMEOUT) == ["a:y:2"]  # no second welcome
        stats = rt.stats()
        assert (stats.sessions_live, stats.sessions_passivated, stats.rehydrations) == (1, 0, 1)
        assert stats.sessions_opened == 1
        assert rt.session_ids() == ["a"]


def test_passivating_an_unknown_session_says_false() -> None:
    with Runtime(counter_bot()) as rt:
        assert rt.passivate("nobody").result(TIMEOUT) is False


def test_an_event_queued_behind_a_passivation_request_keeps_the_session_live() -> None:
    gate, entered = threading.Event(), threading.Event()
    with Runtime(counter_bot(gate, entered)) as rt:
        first = rt.send_message("a", "1")
        assert entered.wait(TIMEOUT)
        passivated = rt.passivate("a")
        second = rt.send_message("a", "2")
        gate.set()
        assert passivated.result(TIMEOUT) is False
        assert second.result(TIMEOUT) == ["a:2:2"]
        assert first.result(TIMEOUT) == ["welcome a", "a:1:1"]
        assert rt.stats().sessions_live == 1


def test_idle_sessions_are_passivated_after_the_idle_timeout() -> None:
    with Runtime(counter_bot(), idle_timeout=0.05) as rt:
        for i in range(20):
            rt.send_message(f"u{i}", "x").result(TIMEOUT)
        assert wait_until(lambda: rt.stats().sessions_passivated == 20)
        assert rt.stats().sessions_live == 0
        assert rt.send_message("u3", "y").result(TIMEOUT) == ["u3:y:2"]


def test_the_live_cap_passivates_the_least_recently_used_sessions() -> None:
    with Runtime(counter_bot(), max_live_sessions=50) as rt:
        for i in range(200):
            rt.send_message(f"u{i}", "x").result(TIMEOUT)
        assert wait_until(lambda: rt.stats().sessions_live <= 50)
        # The most recently used sessions stayed live.
        live = set(rt.backend._directory.ids())  # type: ignore[attr-defined]
        assert {f"u{i}" for i in range(190, 200)} <= live
        # Every session still answers with its own count.
        for i in range(200):
            assert rt.send_message(f"u{i}", "y").result(TIMEOUT) == [f"u{i}:y:2"]
        stats = rt.stats()
        assert stats.rehydrations >= 150
        assert stats.events_processed == 400


@pytest.mark.slow
def test_events_racing_passivation_are_neither_lost_nor_reordered() -> None:
    senders, per_sender, users = 4, 300, 8
    with Runtime(counter_bot()) as rt:
        stop = threading.Event()

        def passivate_forever() -> None:
            while not stop.is_set():
                for u in range(users):
                    rt.passivate(f"u{u}")

        sent: dict[int, list[tuple[str, object]]] = {k: [] for k in range(senders)}

        def send(k: int) -> None:
            for i in range(per_sender):
                sid = f"u{(k + i) % users}"
                future = rt.send_message(sid, f"{k}.{i}")
                sent[k].append((sid, future))
                if i % 5 == 4:  # bursts of five in flight, then let passivation catch up
                    future.result(TIMEOUT)

        churn = threading.Thread(target=passivate_forever)
        churn.start()
        threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        stop.set()
        churn.join(10)
        for futures in sent.values():
            for _, future in futures:
                future.result(TIMEOUT)  # type: ignore[attr-defined]
        stats = rt.stats()
        assert stats.passivations > 0
        assert stats.rehydrations > 0
        for u in range(users):
            snap = rt.snapshot(f"u{u}")
            assert snap is not None
            user_messages = [text for text, sender in snap.chat_history if sender == 1]
            expected = [
                f"{k}.{i}"
                for k in range(senders)
                for i in range(per_sender)
                if (k + i) % users == u
            ]
            assert sorted(user_messages) == sorted(expected)  # exactly once each
            for k in range(senders):  # each sender's messages in its send order
                mine = [m for m in user_messages if m.startswith(f"{k}.")]
                assert mine == [m for m in expected if m.startswith(f"{k}.")]
            assert snap.data == {"n": len(expected)}
        assert stats.events_processed == senders * per_sender
        assert stats.events_failed == 0
