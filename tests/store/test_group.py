"""Group commit: writes queued while a batch is written share the next batch."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from runtime.errors import StoreUnavailableError
from runtime.store._group import GroupCommit, Write

TIMEOUT = 10


class GatedFlush:
    """A flush that records its batches and waits inside each until ``gate`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[Write]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.failures: list[BaseException] = []  # raised by the next flushes, in order

    def __call__(self, writes: list[Write]) -> None:
        self.batches.append(list(writes))
        self.entered.set()
        assert self.gate.wait(TIMEOUT)
        if self.failures:
            raise self.failures.pop(0)


class Outcomes:
    """Collect the ``done`` callbacks' outcomes by session id."""

    def __init__(self, expected: int) -> None:
        self.errors: dict[str, BaseException | None] = {}
        self.threads: set[str] = set()
        self._left = expected
        self._lock = threading.Lock()
        self.all_done = threading.Event()

    def done_for(self, session_id: str) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            with self._lock:
                self.errors[session_id] = error
                self.threads.add(threading.current_thread().name)
                self._left -= 1
                if self._left == 0:
                    self.all_done.set()

        return done


def test_a_lone_write_returns_once_its_batch_is_written() -> None:
    flush = GatedFlush()
    flush.gate.set()
    group = GroupCommit(flush)
    group.write("a", b"1")
    assert flush.batches == [[("a", b"1")]]
    assert (group.batches, group.writes) == (1, 1)
    group.close()


def test_writes_queued_during_a_flush_share_the_next_batch_on_the_writer_thread() -> None:
    flush = GatedFlush()
    group = GroupCommit(flush, name="test-writer")
    outcomes = Outcomes(expected=4)
    group.submit("a", b"a", outcomes.done_for("a"))
    assert flush.entered.wait(TIMEOUT)  # "a" is being written: the next ones queue behind it
    for key in ("b", "c", "d"):
        group.submit(key, key.encode(), outcomes.done_for(key))  # returns at once
    flush.gate.set()
    assert outcomes.all_done.wait(TIMEOUT)
    assert flush.batches == [[("a", b"a")], [("b", b"b"), ("c", b"c"), ("d", b"d")]]
    assert outcomes.errors == {"a": None, "b": None, "c": None, "d": None}
    assert outcomes.threads == {"test-writer"}
    group.close()


def test_a_failed_batch_fails_every_write_in_it_and_the_next_batch_goes_on() -> None:
    flush = GatedFlush()
    full = StoreUnavailableError("the disk is full")
    flush.failures.append(full)
    group = GroupCommit(flush)
    outcomes = Outcomes(expected=2)
    group.submit("a", b"a", outcomes.done_for("a"))
    assert flush.entered.wait(TIMEOUT)
    group.submit("b", b"b", outcomes.done_for("b"))
    flush.failures.append(StoreUnavailableError("still full"))
    flush.gate.set()
    assert outcomes.all_done.wait(TIMEOUT)
    assert outcomes.errors["a"] is full
    with pytest.raises(StoreUnavailableError, match="the disk is full"):
        raise_it(outcomes.errors["a"])
    group.write("c", b"c")  # the writer goes on after failed batches
    assert [batch[0][0] for batch in flush.batches] == ["a", "b", "c"]
    group.close()


def raise_it(error: BaseException | None) -> None:
    assert error is not None
    raise error


def test_a_blocking_write_raises_a_fresh_error_that_keeps_maybe_committed() -> None:
    flush = GatedFlush()
    flush.gate.set()
    lost = StoreUnavailableError("the reply was lost", maybe_committed=True)
    flush.failures.append(lost)
    group = GroupCommit(flush)
    with pytest.raises(StoreUnavailableError) as info:
        group.write("a", b"1")
    assert info.value is not lost
    assert info.value.__cause__ is lost
    assert info.value.maybe_committed
    group.close()


def test_close_writes_what_is_queued_then_refuses_new_writes() -> None:
    flush = GatedFlush()
    group = GroupCommit(flush)
    outcomes = Outcomes(expected=2)
    group.submit("a", b"a", outcomes.done_for("a"))
    assert flush.entered.wait(TIMEOUT)
    group.submit("b", b"b", outcomes.done_for("b"))
    closer = threading.Thread(target=group.close)
    closer.start()
    flush.gate.set()
    closer.join(TIMEOUT)
    assert outcomes.errors == {"a": None, "b": None}
    with pytest.raises(StoreUnavailableError, match="closed"):
        group.write("c", b"c")
