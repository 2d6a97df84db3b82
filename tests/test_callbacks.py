"""Done-callbacks and odd exceptions never kill a session's actor, nor anyone else's."""

from __future__ import annotations

import concurrent.futures
import threading

import pykka
import pytest
from structlog.testing import capture_logs

from runtime import Bot, Runtime, Session, SessionCrashedError

TIMEOUT = 10


class Unprintable(BaseException):
    """A BaseException that cannot even be described."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def held_bot(gate: threading.Event, entered: threading.Event) -> Bot:
    """A counter whose "hold" message waits for ``gate`` and "boom" raises ``Unprintable``."""
    bot = Bot("held")
    state = bot.new_state("s", initial=True)
    state.set_body(lambda session: session.reply("welcome"))

    def body(session: Session) -> None:
        session.set("n", (session.get("n") or 0) + 1)
        if session.message == "hold":
            entered.set()
            assert gate.wait(TIMEOUT)
        if session.message == "boom":
            raise Unprintable()
        session.reply(f"{session.message}:{session.get('n')}")

    state.set_fallback_body(body)
    return bot


def test_a_done_callback_raising_system_exit_kills_neither_the_session_nor_other_actors() -> None:
    gate, entered = threading.Event(), threading.Event()
    bystander = pykka.ThreadingActor.start()
    callback_threads: list[threading.Thread] = []

    def exit_now(future: concurrent.futures.Future[list[str]]) -> None:
        callback_threads.append(threading.current_thread())
        raise SystemExit(3)

    with Runtime(held_bot(gate, entered)) as rt, capture_logs() as logs:
        held = rt.send_message("a", "hold")
        assert entered.wait(TIMEOUT)
        held.add_done_callback(exit_now)  # still pending: runs on the session's worker
        gate.set()
        assert held.result(TIMEOUT) == ["welcome", "hold:1"]
        assert rt.send_message("a", "next").result(TIMEOUT) == ["next:2"]
        assert rt.running
        assert bystander.is_alive()
    assert callback_threads
    assert callback_threads[0] is not threading.current_thread()
    assert any(log["event"] == "future_callback_failed" for log in logs)
    bystander.stop()


def test_a_body_raising_an_unprintable_base_exception_fails_its_turn_and_the_session_goes_on() -> (
    None
):
    gate, entered = threading.Event(), threading.Event()
    gate.set()
    with Runtime(held_bot(gate, entered)) as rt:
        assert rt.send_message("a", "x").result(TIMEOUT) == ["welcome", "x:1"]
        with pytest.raises(SessionCrashedError) as failure:
            rt.send_message("a", "boom").result(TIMEOUT)
        assert isinstance(failure.value.__cause__, Unprintable)
        assert rt.send_message("a", "y").result(TIMEOUT) == ["y:2"]  # "boom" was rolled back
        snap = rt.snapshot("a")
        assert snap is not None
        assert snap.data == {"n": 2}
