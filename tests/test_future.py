"""ReplyFuture behaves as a concurrent.futures.Future everywhere one is used."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from runtime._future import ReplyFuture

TIMEOUT = 5


def test_a_reply_future_is_a_concurrent_future_with_its_result() -> None:
    future: ReplyFuture[list[str]] = ReplyFuture()
    assert isinstance(future, concurrent.futures.Future)
    assert not future.done()
    assert future.set_running_or_notify_cancel()
    future.set_result(["hi"])
    assert future.done()
    assert future.result(0) == ["hi"]
    assert "finished returned list" in repr(future)


def test_result_times_out_while_pending_then_returns_once_set() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.01)
    threading.Timer(0.01, future.set_result, args=(7,)).start()
    assert future.result(timeout=TIMEOUT) == 7


def test_exceptions_callbacks_and_cancel_work_as_in_the_standard_future() -> None:
    failed: ReplyFuture[int] = ReplyFuture()
    seen: list[object] = []
    failed.add_done_callback(lambda f: seen.append(f.exception()))
    failed.set_exception(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        failed.result(0)
    assert isinstance(seen[0], ValueError)
    cancelled: ReplyFuture[int] = ReplyFuture()
    assert cancelled.cancel()
    assert not cancelled.set_running_or_notify_cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        cancelled.result(0)
    with pytest.raises(concurrent.futures.InvalidStateError):
        failed.set_result(1)


def test_many_threads_waiting_on_one_future_all_wake() -> None:
    future: ReplyFuture[str] = ReplyFuture()
    results: list[str] = []
    started = threading.Barrier(9)

    def wait() -> None:
        started.wait()
        results.append(future.result(timeout=TIMEOUT))

    threads = [threading.Thread(target=wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    future.set_result("done")
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == ["done"] * 8


def test_wait_and_as_completed_accept_reply_futures() -> None:
    futures: list[ReplyFuture[int]] = [ReplyFuture() for _ in range(3)]
    threading.Timer(0.01, futures[1].set_result, args=(1,)).start()
    done, pending = concurrent.futures.wait(
        futures, timeout=TIMEOUT, return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done == {futures[1]}
    assert len(pending) == 2
    futures[0].set_result(0)
    futures[2].set_exception(KeyError("x"))
    assert len(list(concurrent.futures.as_completed(futures, timeout=TIMEOUT))) == 3


def test_asyncio_can_await_a_reply_future() -> None:
    future: ReplyFuture[str] = ReplyFuture()

    async def main() -> str:
        threading.Timer(0.01, future.set_result, args=("async",)).start()
        return await asyncio.wrap_future(future)

    assert asyncio.run(main()) == "async"


def test_cancel_wakes_a_thread_waiting_in_result_and_in_exception() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    outcomes: list[str] = []
    waiting = threading.Barrier(3)

    def wait_result() -> None:
        waiting.wait()
        try:
            future.result(TIMEOUT)
        except concurrent.futures.CancelledError:
            outcomes.append("result cancelled")

    def wait_exception() -> None:
        waiting.wait()
        try:
            future.exception(TIMEOUT)
        except concurrent.futures.CancelledError:
            outcomes.append("exception cancelled")

    threads = [threading.Thread(target=wait_result), threading.Thread(target=wait_exception)]
    for thread in threads:
        thread.start()
    waiting.wait()
    assert future.cancel()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(outcomes) == ["exception cancelled", "result cancelled"]
    assert future.cancelled()
    assert future.done()


def test_exception_waits_times_out_and_returns_the_failure() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    with pytest.raises(TimeoutError):
        future.exception(timeout=0.01)
    error = KeyError("k")
    threading.Timer(0.01, future.set_exception, args=(error,)).start()
    assert future.exception(timeout=TIMEOUT) is error
    with pytest.raises(KeyError):
        future.result(0)


def test_a_second_settlement_is_refused_and_the_first_stays() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    future.set_exception(ValueError("first"))
    with pytest.raises(concurrent.futures.InvalidStateError, match="FINISHED"):
        future.set_exception(ValueError("second"))
    with pytest.raises(concurrent.futures.InvalidStateError):
        future.set_result(2)
    assert isinstance(future.exception(0), ValueError)
    assert str(future.exception(0)) == "first"
    assert not future.cancel()  # a finished future cannot be cancelled


def test_callbacks_run_once_in_order_and_at_once_when_added_after_the_result() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    seen: list[tuple[str, int]] = []
    future.add_done_callback(lambda f: seen.append(("first", f.result())))
    future.add_done_callback(lambda f: seen.append(("second", f.result())))
    future.set_result(3)
    future.add_done_callback(lambda f: seen.append(("late", f.result())))
    assert seen == [("first", 3), ("second", 3), ("late", 3)]


def test_wait_all_completed_times_out_on_a_pending_future_and_leaves_no_waiter() -> None:
    done_future: ReplyFuture[int] = ReplyFuture()
    done_future.set_result(1)
    pending_future: ReplyFuture[int] = ReplyFuture()
    done, pending = concurrent.futures.wait([done_future, pending_future], timeout=0.01)
    assert done == {done_future}
    assert pending == {pending_future}
    assert pending_future._waiters == []  # wait() removed its waiter on the way out
    pending_future.set_result(2)
    assert pending_future.result(0) == 2
