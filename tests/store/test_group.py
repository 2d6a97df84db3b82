"""Group commit: writes that arrive while a batch is written share the next batch."""

from __future__ import annotations

import threading

import pytest

from runtime.errors import StoreUnavailableError
from runtime.store._group import GroupCommit, Write

TIMEOUT = 10


class GatedFlush:
    """A flush that records its batches and, while ``gate`` is clear, waits inside the first."""

    def __init__(self) -> None:
        self.batches: list[list[Write]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.fail_next = False

    def __call__(self, writes: list[Write]) -> None:
        self.batches.append(list(writes))
        self.entered.set()
        assert self.gate.wait(TIMEOUT)
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailableError("the disk is full")


def write_in_thread(group: GroupCommit, key: str, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            group.write(key, key.encode())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_lone_write_is_flushed_by_its_own_thread_at_once() -> None:
    flush = GatedFlush()
    flush.gate.set()
    group = GroupCommit(flush)
    group.write("a", b"1")
    assert flush.batches == [[("a", b"1")]]
    assert (group.batches, group.writes) == (1, 1)


class SignallingCondition(threading.Condition):
    """A condition that tells the test each time a writer starts waiting on it."""

    def __init__(self) -> None:
        super().__init__(threading.Lock())
        self.waiting = threading.Semaphore(0)

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.release()
        return super().wait(timeout)


def test_writes_arriving_during_a_flush_share_the_next_batch() -> None:
    flush = GatedFlush()
    group = GroupCommit(flush)
    group._cond = cond = SignallingCondition()
    errors: list[BaseException] = []
    leader = write_in_thread(group, "a", errors)
    assert flush.entered.wait(TIMEOUT)  # "a" is being written; the rest must wait for it
    followers = [write_in_thread(group, key, errors) for key in ("b", "c", "d")]
    for _ in followers:  # each follower queued its write and waits
        assert cond.waiting.acquire(timeout=TIMEOUT)
    flush.gate.set()
    for thread in [leader, *followers]:
        thread.join(TIMEOUT)
    assert errors == []
    assert flush.batches[0] == [("a", b"a")]
    assert sorted(flush.batches[1]) == [("b", b"b"), ("c", b"c"), ("d", b"d")]
    assert (group.batches, group.writes) == (2, 4)


def test_a_failed_batch_fails_every_write_in_it_and_the_next_batch_goes_on() -> None:
    flush = GatedFlush()
    flush.fail_next = True
    flush.gate.set()
    group = GroupCommit(flush)
    with pytest.raises(StoreUnavailableError, match="disk is full"):
        group.write("a", b"1")
    group.write("b", b"2")
    assert [batch[0][0] for batch in flush.batches] == ["a", "b"]
