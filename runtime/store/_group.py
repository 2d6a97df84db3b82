"""Group commit: many sessions' writes, one transaction (or pipeline) per batch.

Session actors on different worker threads commit turns at the same time. Each write is
handed to the store's writer thread with a callback (:meth:`GroupCommit.submit`) and the
worker goes on with other sessions; the writer takes every write queued while it wrote the
previous batch and writes them as one batch, then calls each write's callback with the
outcome. So under load a batch holds everything that arrived during the last one, and no
worker thread waits on the disk or the network. A batch that fails fails every write in it
(each callback gets the error; nothing of the batch was written, or, for a network store whose
reply was lost, maybe all of it: the error's ``maybe_committed`` says so).

:meth:`GroupCommit.write` is the blocking form, for saves and deletes outside turns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.errors import StoreUnavailableError, describe_exception
from runtime.log import get_logger

__all__ = ["Done", "GroupCommit", "Write"]

Write = tuple[str, bytes | None]  # (session_id, payload); None deletes the session
Done = Callable[[BaseException | None], object]  # called with None, or the batch's error


class GroupCommit:
    """Write batches on one writer thread (started on the first write, ended by close).

    Args:
        flush: writes one batch atomically (all of it or none) and durably; only ever called
            by the writer thread. What it raises fails the batch's writes.
        name: the writer thread's name.
    """

    def __init__(self, flush: Callable[[list[Write]], None], name: str = "runtime-writer") -> None:
        self._flush = flush
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[tuple[str, bytes | None, Done]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # batches flushed (statistics)
        self.writes = 0  # writes flushed

    def submit(self, session_id: str, payload: bytes | None, done: Done) -> None:
        """Queue a write (None: delete); ``done(error)`` is called once it is durable or failed.

        ``done`` runs on the writer thread (or on the caller's, at once, if the store is
        closed); it must be quick and must not write to this store itself.
        """
        with self._cond:
            if not self._closed:
                self._pending.append((session_id, payload, done))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
                elif len(self._pending) == 1:
                    self._cond.notify()
                return
        done(StoreUnavailableError("the store is closed"))

    def write(self, session_id: str, payload: bytes | None) -> None:
        """Write ``payload`` (None: delete) for ``session_id``; return once it is durable.

        Raises:
            StoreUnavailableError: the batch holding this write failed (caused by its error).
        """
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        self.submit(session_id, payload, done)
        finished.wait()  # bounded by the store's own timeouts (busy timeout, socket timeout)
        error = outcome[0]
        if error is not None:
            # A fresh exception per caller: tracebacks of one shared object would mix.
            raise StoreUnavailableError(
                str(error), maybe_committed=getattr(error, "maybe_committed", False)
            ) from error

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the writer thread; later writes fail."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._pending and not self._closed:
                    cond.wait()
                if not self._pending:
                    return  # closed, and everything queued was written
                batch, self._pending = self._pending, []
            error: BaseException | None = None
            try:
                self._flush([(session_id, payload) for session_id, payload, _ in batch])
            except BaseException as exc:  # handed to every write of the batch
                error = exc
            self.batches += 1
            self.writes += len(batch)
            for _, _, done in batch:
                try:
                    done(error)
                except BaseException as exc:  # one broken callback must not stop the writer
                    get_logger().error("store_callback_failed", error=describe_exception(exc))
