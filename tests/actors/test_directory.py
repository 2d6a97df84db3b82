"""The routing table: one cell per live session, made under that session's stripe only.

The concurrency tests force their interleaving: the table's stripes are replaced by locks that
report when a thread finds them held, so each test waits for the contention it is about
instead of hoping for a race.
"""

from __future__ import annotations

import threading
from _thread import allocate_lock
from collections.abc import Callable
from types import TracebackType

import pytest

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._directory import Directory
from runtime.errors import RuntimeStoppedError

TIMEOUT = 5.0


class _Stripe:
    """A stripe lock that sets ``contended`` when a thread finds it held, then waits for it."""

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self.contended = threading.Event()

    def acquire(self) -> bool:
        if not self._lock.acquire(False):
            self.contended.set()
            self._lock.acquire()
        return True

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _instrumented(start_actor: Callable[[SessionCell], object]) -> Directory:
    directory = Directory(start_actor)
    directory._locks = tuple(_Stripe() for _ in directory._locks)  # type: ignore[misc]  # duck-typed
    return directory


def _stripe(directory: Directory, session_id: str) -> _Stripe:
    stripe = directory.lock_of(session_id)
    assert isinstance(stripe, _Stripe)
    return stripe


class _SlowStart:
    """A ``start_actor`` that holds the first cell of ``session_id`` until the test says so."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.started: list[SessionCell] = []
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self, cell: SessionCell) -> None:
        self.started.append(cell)
        if cell.id == self.session_id and not self.entered.is_set():
            self.entered.set()
            assert self.released.wait(TIMEOUT), "the test never released the slow start"


def _other_stripe(directory: Directory, session_id: str) -> str:
    """Return a session id whose entry another lock guards than ``session_id``'s."""
    taken = directory.lock_of(session_id)
    for candidate in (f"other-{i}" for i in range(10_000)):
        if directory.lock_of(candidate) is not taken:
            return candidate
    raise AssertionError("every session id maps to one lock: the table is not striped")


def _while_being_made(directory: Directory, slow: _SlowStart, action: Callable[[], object]) -> None:
    """Route ``slow``'s session (its start held), run ``action`` on another thread until that
    finds the session's stripe held, then let both finish."""
    maker = threading.Thread(target=directory.route, args=(slow.session_id,))
    maker.start()
    assert slow.entered.wait(TIMEOUT)
    other = threading.Thread(target=action)
    other.start()
    try:
        assert _stripe(directory, slow.session_id).contended.wait(TIMEOUT)
    finally:
        slow.released.set()
        maker.join(TIMEOUT)
        other.join(TIMEOUT)


def test_a_second_first_event_waits_for_the_cell_being_made_and_gets_it() -> None:
    slow = _SlowStart("alice")
    directory = _instrumented(slow)
    got: list[SessionCell] = []
    _while_being_made(directory, slow, lambda: got.append(directory.route("alice")))
    assert len(got) == 1
    assert directory.get("alice") is got[0]  # the cell the first event made
    assert slow.started == [got[0]]  # one cell, one actor


def test_a_slow_activation_does_not_hold_up_a_new_session_on_another_stripe() -> None:
    # With one lock for the whole table, routing the other session waited for this start.
    slow = _SlowStart("slow")
    directory = Directory(slow)
    maker = threading.Thread(target=directory.route, args=("slow",))
    maker.start()
    try:
        assert slow.entered.wait(TIMEOUT)
        other = _other_stripe(directory, "slow")
        routed = threading.Event()

        def route_other() -> None:
            directory.route(other)
            routed.set()

        threading.Thread(target=route_other, daemon=True).start()
        assert routed.wait(TIMEOUT), "routing a new session waited for another's activation"
        assert directory.get("slow") is None  # still being made: not in the table yet
    finally:
        slow.released.set()
        maker.join(TIMEOUT)
    assert sorted(directory.ids()) == sorted(["slow", other])


def test_close_waits_for_a_cell_being_made_and_returns_it() -> None:
    slow = _SlowStart("slow")
    directory = _instrumented(slow)
    closed: list[SessionCell] = []
    _while_being_made(directory, slow, lambda: closed.extend(directory.close()))
    assert [cell.id for cell in closed] == ["slow"]


def test_close_returns_every_cell_and_refuses_new_ones() -> None:
    directory = Directory(lambda cell: None)
    cells = [directory.route(f"user-{i}") for i in range(200)]
    closed = directory.close()
    assert {id(cell) for cell in closed} == {id(cell) for cell in cells}
    for session_id in ("new", _other_stripe(directory, "new")):
        with pytest.raises(RuntimeStoppedError, match="stopped before the event was queued"):
            directory.route(session_id)
    assert directory.route("user-0") is cells[0]  # a live cell is still found (its inbox says)


def test_close_releases_every_stripe_it_took() -> None:
    directory = Directory(lambda cell: None)
    directory.close()
    assert not any(lock.locked() for lock in directory._locks)


def test_remove_and_discard_take_the_cell_out() -> None:
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


def test_every_stripe_is_used() -> None:
    directory = Directory(lambda cell: None)
    used = {id(directory.lock_of(f"user-{i}")) for i in range(5000)}
    assert len(used) == len(directory._locks)
