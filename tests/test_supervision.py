"""Supervision: a crashed turn is retried, a poison event is quarantined, restarts back off.

A turn *crashes* when a ``BaseException`` (``SystemExit`` from a body...) escapes it: it is
rolled back, its actor is replaced, and the event runs again at the head of the session's
queue, up to ``poison_after`` times in all; then its future fails with ``PoisonEventError``
and the session's later events go on. A session that keeps crashing waits before each
replacement (doubling), while every other session keeps moving.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading

import pytest
from structlog.testing import capture_logs

from runtime import (
    Bot,
    PoisonEventError,
    Runtime,
    RuntimeStoppedError,
    Session,
    SessionCrashedError,
)
from runtime.actors._supervision import restart_delay

TIMEOUT = 10


class Crasher:
    """A bot whose message ``"boom"`` raises SystemExit a chosen number of times."""

    def __init__(self, crashes: int) -> None:
        self.crashes_left = crashes
        self.attempts = 0
        self.attempted = [threading.Event() for _ in range(10)]
        self.bot = Bot("crasher")
        initial = self.bot.new_state("initial", initial=True)

        def body(session: Session) -> None:
            message = session.message
            if message is None:
                return
            items = (session.get("items") or []) + [message]
            session.set("items", items)
            if message == "boom":
                self.attempted[self.attempts].set()
                self.attempts += 1
                if self.crashes_left > 0:
                    self.crashes_left -= 1
                    raise SystemExit("the body dies")
            session.reply(f"{len(items)}:{message}")

        initial.set_body(body)
        initial.set_fallback_body(body)
        initial.go_to(initial)


def test_a_turn_that_crashes_once_is_retried_and_applied_exactly_once() -> None:
    crasher = Crasher(crashes=1)
    with Runtime(crasher.bot) as rt:
        assert rt.send_message("u", "a").result(timeout=TIMEOUT) == ["1:a"]
        assert rt.send_message("u", "boom").result(timeout=TIMEOUT) == ["2:boom"]
        assert rt.send_message("u", "b").result(timeout=TIMEOUT) == ["3:b"]
        snapshot = rt.snapshot("u")
        stats = rt.stats()
    assert snapshot is not None
    assert snapshot.data["items"] == ["a", "boom", "b"]
    assert crasher.attempts == 2
    assert (stats.event_retries, stats.poison_events, stats.actor_restarts) == (1, 0, 1)


def test_an_event_that_crashes_every_attempt_is_quarantined_and_later_events_go_on() -> None:
    crasher = Crasher(crashes=100)
    with Runtime(crasher.bot, poison_after=3, restart_backoff=0.001) as rt:
        rt.send_message("u", "a").result(timeout=TIMEOUT)
        poison = rt.send_message("u", "boom")
        after = rt.send_message("u", "b")
        with pytest.raises(PoisonEventError) as info:
            poison.result(timeout=TIMEOUT)
        assert after.result(timeout=TIMEOUT) == ["2:b"]
        snapshot = rt.snapshot("u")
        stats = rt.stats()
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, SystemExit)
    assert "quarantined" in str(info.value)
    assert crasher.attempts == 3
    assert snapshot is not None
    assert snapshot.data["items"] == ["a", "b"]  # none of the three attempts left a trace
    assert (stats.event_retries, stats.poison_events, stats.actor_restarts) == (2, 1, 3)
    assert stats.events_failed == 1


def test_poison_after_one_never_runs_a_crashed_event_again() -> None:
    crasher = Crasher(crashes=100)
    with Runtime(crasher.bot, poison_after=1) as rt:
        with pytest.raises(SessionCrashedError):
            rt.send_message("u", "boom").result(timeout=TIMEOUT)
        assert rt.send_message("u", "b").result(timeout=TIMEOUT) == ["1:b"]
    assert crasher.attempts == 1


def test_other_sessions_keep_moving_while_a_crashing_session_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A backoff longer than the test: the crashing session waits for it throughout, whatever
    # the machine's speed (with the real 1 s cap, 20 replies on a loaded machine could take
    # longer than the backoff and the assertion below would test the clock, not the runtime).
    monkeypatch.setattr(
        "runtime.actors._session_actor.restart_delay",
        lambda crashes, backoff: 0.0 if crashes <= 1 else 3600.0,  # none after the first
    )
    crasher = Crasher(crashes=100)
    rt = Runtime(crasher.bot, poison_after=3, restart_backoff=1.0).start()
    poison = rt.send_message("crashing", "boom")
    assert crasher.attempted[1].wait(TIMEOUT)  # the second attempt ran (and crashed)
    replies = [rt.send_message(f"other-{i}", "hello") for i in range(20)]
    assert [f.result(timeout=TIMEOUT) for f in replies] == [["1:hello"]] * 20
    assert not poison.done()  # still waiting for its backoff
    assert crasher.attempts == 2
    assert rt.stop(timeout=0.2) is False  # the drain does not wait out the backoff
    with pytest.raises(RuntimeStoppedError):
        poison.result(timeout=0)


def test_stop_during_a_backoff_fails_the_waiting_retry_and_returns() -> None:
    crasher = Crasher(crashes=100)
    rt = Runtime(crasher.bot, poison_after=5, restart_backoff=1.0).start()
    poison = rt.send_message("u", "boom")
    queued = rt.send_message("u", "later")
    assert crasher.attempted[1].wait(TIMEOUT)
    # The third attempt waits 1 s for its backoff; the drain gives up long before.
    assert rt.stop(timeout=0.2) is False
    for future in (poison, queued):
        with pytest.raises(RuntimeStoppedError):
            future.result(timeout=0)
    assert crasher.attempts == 2


def test_restart_delay_is_zero_after_one_crash_then_doubles_up_to_one_second() -> None:
    delays = [restart_delay(n, 0.01) for n in range(1, 12)]
    assert delays[:4] == [0.0, 0.01, 0.02, 0.04]
    assert delays[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert restart_delay(10_000, 0.01) == 1.0
    assert restart_delay(5, 0.0) == 0.0


def test_the_crash_count_behind_the_backoff_restarts_once_the_session_commits() -> None:
    crasher = Crasher(crashes=1)
    with capture_logs() as logs, Runtime(crasher.bot, restart_backoff=1.0) as rt:
        futures: list[concurrent.futures.Future[list[str]]] = []
        for _ in range(3):
            crasher.crashes_left = 1  # one crash, then the retry commits
            futures.append(rt.send_message("u", "boom"))
            futures[-1].result(timeout=TIMEOUT)
        crasher.crashes_left = 2  # two crashes in a row, then the retry commits
        futures.append(rt.send_message("u", "boom"))
        futures[-1].result(timeout=TIMEOUT)
    died = [log["crashes"] for log in logs if log["event"] == "session_actor_died"]
    # Each crash after a commit is the first (replaced at once); the two in a row count up.
    assert died == [1, 1, 1, 1, 2]
    assert [f.result() for f in futures] == [["1:boom"], ["2:boom"], ["3:boom"], ["4:boom"]]
