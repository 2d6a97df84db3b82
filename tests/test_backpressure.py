"""Backpressure and fairness: bounded queues refuse at once; a flooder cannot starve others."""

from __future__ import annotations

import threading

import pytest

from runtime import Bot, OverloadedError, Runtime, RuntimeStoppedError, Session
from runtime.actors._cell import SessionCell

TIMEOUT = 10


def gated_bot(gate: threading.Event, entered: threading.Event) -> Bot:
    bot = Bot("gated")
    state = bot.new_state("s", initial=True)

    def wait(session: Session) -> None:
        entered.set()
        assert gate.wait(TIMEOUT)
        session.reply(session.message or "")

    state.set_fallback_body(wait)
    return bot


def test_a_full_session_queue_fails_the_future_at_once_and_drops_nothing() -> None:
    gate, entered = threading.Event(), threading.Event()
    with Runtime(gated_bot(gate, entered), max_session_queue=3) as rt:
        running = rt.send_message("a", "0")
        assert entered.wait(TIMEOUT)
        queued = [rt.send_message("a", str(i)) for i in range(1, 4)]
        refused = rt.send_message("a", "4")
        assert refused.done()
        with pytest.raises(OverloadedError, match=r"session_queue is full \(3/3 events queued\)"):
            refused.result(0)
        error = refused.exception()
        assert isinstance(error, OverloadedError)
        assert (error.bound, error.size, error.limit) == ("session_queue", 3, 3)
        other = rt.send_message("b", "other")  # another session is not affected
        gate.set()
        assert [f.result(TIMEOUT) for f in [running, *queued]] == [["0"], ["1"], ["2"], ["3"]]
        assert other.result(TIMEOUT) == ["other"]
        stats = rt.stats()
        assert stats.events_rejected == 1
        assert stats.events_accepted == 5
        assert stats.events_processed == 5


def test_a_stop_beginning_as_a_full_queue_refuses_an_event_counts_it_nowhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The refusal takes the accept back; if stop() begins right then, the caller gets
    # RuntimeStoppedError, and the event must not also be counted as failed (nor its pending
    # entry popped twice): accepted = processed + failed + pending still holds.
    gate, entered = threading.Event(), threading.Event()
    rt = Runtime(gated_bot(gate, entered), max_session_queue=1).start()
    try:
        running = rt.send_message("a", "0")
        assert entered.wait(TIMEOUT)
        queued = rt.send_message("a", "1")  # the queue is full now
        counters = rt.backend._counters
        real_offer = SessionCell.offer

        def refuse_as_stop_begins(self: SessionCell, message: object, limit: int | None) -> bool:
            accepted = real_offer(self, message, limit)
            if not accepted:
                counters.running = False  # stop() begins right now
            return accepted

        monkeypatch.setattr(SessionCell, "offer", refuse_as_stop_begins)
        with pytest.raises(RuntimeStoppedError):
            rt.send_message("a", "2")
        monkeypatch.undo()
        counters.running = True
        stats = rt.stats()
        assert (stats.events_accepted, stats.events_failed, stats.events_pending) == (2, 0, 2)
        gate.set()
        assert [running.result(TIMEOUT), queued.result(TIMEOUT)] == [["0"], ["1"]]
    finally:
        gate.set()
        rt.stop()
    stats = rt.stats()
    assert (stats.events_accepted, stats.events_processed, stats.events_failed) == (2, 2, 0)


def test_the_global_pending_bound_refuses_new_events() -> None:
    gate, entered = threading.Event(), threading.Event()
    with Runtime(gated_bot(gate, entered), max_pending=4) as rt:
        accepted = [rt.send_message(f"u{i}", str(i)) for i in range(4)]
        refused = rt.send_message("u9", "9")
        with pytest.raises(OverloadedError, match="pending_events is full"):
            refused.result(0)
        gate.set()
        assert [f.result(TIMEOUT) for f in accepted] == [[str(i)] for i in range(4)]
        assert rt.send_message("u9", "9").result(TIMEOUT) == ["9"]  # room again
        assert rt.stats().events_rejected == 1


@pytest.mark.parametrize("option", ["max_session_queue", "max_pending", "max_live_sessions"])
def test_bounds_must_be_positive(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a positive int or None"):
        Runtime(Bot("b"), **{option: 0})  # type: ignore[arg-type]


def test_a_flooding_user_delays_another_by_a_bounded_number_of_slices() -> None:
    budget = 8
    order: list[str] = []
    bot = Bot("fair")
    state = bot.new_state("s", initial=True)

    def record(session: Session) -> None:
        order.append(session.id)  # list.append is atomic; one writer per turn
        session.reply("ok")

    state.set_fallback_body(record)
    with Runtime(bot, slice_budget=budget) as rt:
        rt.open_session("other").result(TIMEOUT)
        flood = [rt.send_message("flooder", str(i)) for i in range(5000)]
        sent_at = len(order)
        other = rt.send_message("other", "hi")
        assert other.result(TIMEOUT) == ["ok"]
        for future in flood:
            future.result(TIMEOUT)
        handled_before = order.index("other")
        # FIFO run queue + per-slice budget: the flooder's current slice, plus at most one
        # more slice queued before the other session's, plus the slack of reading sent_at.
        assert handled_before - sent_at <= 3 * budget
        assert len(order) == 5001
