"""The routing table: one cell per live session, made under that session's stripe only."""

from __future__ import annotations

import itertools
import threading

import pytest

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._directory import Directory
from runtime.errors import RuntimeStoppedError

TIMEOUT = 5.0


def _other_stripe(directory: Directory, session_id: str) -> str:
    """Return a session id whose entry another lock guards than ``session_id``'s."""
    taken = directory.lock_of(session_id)
    return next(
        candidate
        for candidate in (f"other-{i}" for i in itertools.count())
        if directory.lock_of(candidate) is not taken
    )


def test_concurrent_first_events_make_one_cell_and_start_one_actor() -> None:
    started: list[SessionCell] = []
    directory = Directory(started.append)
    senders = 8
    barrier = threading.Barrier(senders)
    got: list[SessionCell] = []

    def send() -> None:
        barrier.wait(TIMEOUT)
        got.append(directory.route("alice"))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(got) == senders
    assert len({id(cell) for cell in got}) == 1
    assert started == [got[0]]
    assert directory.get("alice") is got[0]


def test_a_slow_activation_does_not_hold_up_a_new_session_on_another_stripe() -> None:
    # The actor of "slow" takes long to start (here: until the test says so). A new session
    # guarded by another lock is routed meanwhile; with one lock for the table it waited.
    entered, release = threading.Event(), threading.Event()

    def start_actor(cell: SessionCell) -> None:
        if cell.id == "slow":
            entered.set()
            assert release.wait(TIMEOUT), "the test never released the slow activation"

    directory = Directory(start_actor)
    slow = threading.Thread(target=directory.route, args=("slow",))
    slow.start()
    try:
        assert entered.wait(TIMEOUT)
        other = _other_stripe(directory, "slow")
        routed = threading.Event()

        def route_other() -> None:
            directory.route(other)
            routed.set()

        threading.Thread(target=route_other, daemon=True).start()
        assert routed.wait(TIMEOUT), "routing a new session waited for another's activation"
        assert directory.get("slow") is None  # still being made: not in the table yet
    finally:
        release.set()
        slow.join(TIMEOUT)
    assert sorted(directory.ids()) == sorted(["slow", other])


def test_close_returns_every_cell_and_refuses_new_ones_on_every_stripe() -> None:
    directory = Directory(lambda cell: None)
    ids = [f"user-{i}" for i in range(200)]  # spread over every stripe, most likely
    cells = [directory.route(session_id) for session_id in ids]
    closed = directory.close()
    assert {id(cell) for cell in closed} == {id(cell) for cell in cells}
    for session_id in ["user-0", "new", _other_stripe(directory, "new")]:
        if directory.get(session_id) is None:
            with pytest.raises(RuntimeStoppedError, match="stopped before the event was queued"):
                directory.route(session_id)
    assert directory.route("user-0") is cells[0]  # a live cell is still found (its inbox says)


def test_remove_and_discard_take_the_cell_out_under_its_stripe() -> None:
    directory = Directory(lambda cell: None)
    kept, removed, discarded = (directory.route(name) for name in ("kept", "removed", "gone"))
    assert directory.remove(removed)
    assert removed.lifecycle is Lifecycle.MOVED
    assert removed.moved
    assert not directory.remove(removed)  # not in the table any more
    kept.tell("queued")
    assert not directory.remove(kept)  # an event is queued: it stays live
    assert directory.discard(discarded, RuntimeStoppedError("x")) == []
    assert directory.ids() == ["kept"]
    assert directory.route("removed") is not removed  # routes again to a new cell
