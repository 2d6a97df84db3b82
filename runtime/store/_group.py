"""Group commit: many threads' writes, one transaction (or pipeline) per batch.

Session actors on different worker threads commit turns at the same time. Each waits until its
own write is durable, but they need not each pay for a transaction: while one thread (the
*leader*) writes a batch, the writes that arrive meanwhile collect in the next batch, and when
the leader is done one of their threads leads that batch. A lone writer writes at once, with no
hand-off to another thread; under load a batch holds every write that arrived during the
previous one. A write never returns before its batch is written, and a batch that fails fails
every write in it (each caller gets the error; nothing of the batch was written).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.errors import StoreUnavailableError

__all__ = ["GroupCommit"]

Write = tuple[str, bytes | None]  # (session_id, payload); None deletes the session


class _Batch:
    __slots__ = ("done", "error", "writes")

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Serialise writes into batches, each flushed by one of the writing threads.

    Args:
        flush: writes one batch atomically (all of it or none) and durably; called by one
            thread at a time, never concurrently. What it raises fails the batch's writes.
    """

    def __init__(self, flush: Callable[[list[Write]], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition(threading.Lock())
        self._open = _Batch()  # collecting writes
        self._busy = False  # a leader is flushing a batch
        self.batches = 0  # batches flushed (statistics)
        self.writes = 0  # writes flushed

    def write(self, session_id: str, payload: bytes | None) -> None:
        """Write ``payload`` (None: delete) for ``session_id``; return once it is durable.

        Raises:
            BaseException: what ``flush`` raised for the batch holding this write, to the
                thread that flushed it; the batch's other writers get a StoreUnavailableError
                caused by it.
        """
        cond = self._cond
        with cond:
            batch = self._open
            batch.writes.append((session_id, payload))
            while not batch.done:
                if not self._busy:
                    # Not written and nobody writing: this batch is the open one; lead it.
                    self._busy = True
                    self._open = _Batch()
                    break
                cond.wait()
            else:
                if batch.error is not None:
                    # A fresh exception per thread: tracebacks of one shared object would mix.
                    raise StoreUnavailableError(
                        str(batch.error),
                        maybe_committed=getattr(batch.error, "maybe_committed", False),
                    ) from batch.error
                return
        error: BaseException | None = None
        try:
            self._flush(batch.writes)
        except BaseException as exc:  # handed to every writer of the batch
            error = exc
        with cond:
            batch.done = True
            batch.error = error
            self.batches += 1
            self.writes += len(batch.writes)
            self._busy = False
            cond.notify_all()
        if error is not None:
            raise error
