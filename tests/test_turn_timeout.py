"""turn_timeout: a stuck body fails its own turn, is rolled back later, and starves no one."""

from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

from runtime import Bot, MemoryStore, Runtime, Session, TurnTimeoutError
from runtime.session import SessionData

TIMEOUT = 10
TURN_TIMEOUT = 0.2


def stuck_bot(release: threading.Event, entered: threading.Event, *, spin: bool = True) -> Bot:
    """A counter whose "stuck" message never returns until ``release`` is set.

    ``spin``: the stuck body is CPU-bound (a busy loop); otherwise it blocks (like I/O).
    """
    bot = Bot("stuck")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply(f"welcome {session.id}"))

    def stuck_body(session: Session) -> None:
        session.set("stuck", True)
        session.reply("stuck forever")
        entered.set()
        if spin:
            while not release.is_set():
                pass
        else:
            release.wait()

    def body(session: Session) -> None:
        if session.message == "stuck":
            stuck_body(session)
            return
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"{session.id}:{session.message}:{session.get('n')}")

    state.set_fallback_body(body)
    return bot


def test_a_turn_past_turn_timeout_fails_with_turn_timeout_error_and_is_logged_and_counted() -> None:
    release, entered = threading.Event(), threading.Event()
    with Runtime(stuck_bot(release, entered), turn_timeout=TURN_TIMEOUT) as rt:
        rt.open_session("a").result(TIMEOUT)
        try:
            with capture_logs() as logs:
                stuck = rt.send_message("a", "stuck")
                with pytest.raises(TurnTimeoutError):
                    stuck.result(TIMEOUT)
        finally:
            release.set()
        timed_out = [log for log in logs if log["event"] == "turn_timed_out"]
        assert len(timed_out) == 1
        line = timed_out[0]
        assert (line["session_id"], line["state"], line["event_kind"]) == ("a", "s", "message")
        assert "stuck_body" in line["stack"]  # where the stuck thread was
        assert rt.stats().turn_timeouts == 1


def test_a_timed_out_turn_is_rolled_back_when_its_body_returns_and_queued_events_go_on() -> None:
    release, entered = threading.Event(), threading.Event()
    with Runtime(stuck_bot(release, entered), turn_timeout=TURN_TIMEOUT) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome a", "a:x:1"]
        stuck = rt.send_message("a", "stuck")
        queued = rt.send_message("a", "y")
        try:
            with pytest.raises(TurnTimeoutError):
                stuck.result(TIMEOUT)
            assert not queued.done()  # it waits behind the stuck body, in order
        finally:
            release.set()
        assert queued.result(TIMEOUT) == ["a:y:2"]
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.data == {"n": 2}  # nothing of the stuck turn
        assert ("stuck", 1) not in snap.chat_history
        assert ("stuck forever", 0) not in snap.chat_history


@pytest.mark.parametrize("spin", [True, False], ids=["cpu_bound", "blocked_on_io"])
def test_a_stuck_body_does_not_stop_other_sessions_even_with_a_single_worker(spin: bool) -> None:
    release, entered = threading.Event(), threading.Event()
    rt = Runtime(
        stuck_bot(release, entered, spin=spin),
        turn_timeout=TURN_TIMEOUT,
        workers=1,
        max_workers=1,
    ).start()
    try:
        rt.open_session("a").result(TIMEOUT)
        stuck = rt.send_message("a", "stuck")
        assert entered.wait(TIMEOUT)
        assert rt.send_message("b", "hi").result(TIMEOUT) == ["welcome b", "b:hi:1"]
        with pytest.raises(TurnTimeoutError):
            stuck.result(TIMEOUT)
    finally:
        release.set()
    assert rt.send_message("a", "again").result(TIMEOUT) == ["a:again:1"]  # "stuck" undone
    rt.stop()


class HeldLoadStore(MemoryStore):
    """Loading session "a" waits until ``gate`` is set."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def load(self, session_id: str) -> SessionData | None:
        if session_id == "a":
            assert self.gate.wait(TIMEOUT)
        return super().load(session_id)


def test_a_stuck_turn_still_times_out_when_its_worker_first_spent_a_moment_loading_it() -> None:
    release, entered, loaded = threading.Event(), threading.Event(), threading.Event()
    rt = Runtime(
        stuck_bot(release, entered),
        store=HeldLoadStore(loaded),
        turn_timeout=TURN_TIMEOUT,
        workers=1,
        max_workers=2,
    ).start()
    try:
        stuck = rt.send_message("a", "stuck")  # the only worker starts by loading "a"
        # Served by a second worker, so the pool's monitor has looked at the first one.
        assert rt.send_message("b", "hi").result(TIMEOUT) == ["welcome b", "b:hi:1"]
        released_at = time.monotonic()
        loaded.set()  # the load took a few milliseconds, far below turn_timeout
        with pytest.raises(TurnTimeoutError):
            stuck.result(TIMEOUT)
        # Not early either: the turn began after the load (a lower bound cannot be flaky).
        assert time.monotonic() - released_at >= TURN_TIMEOUT / 2
        assert rt.stats().turn_timeouts == 1
    finally:
        loaded.set()
        release.set()
    rt.stop()
