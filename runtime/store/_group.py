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
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime.errors import StoreUnavailableError, describe_exception
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.bot import Bot
    from runtime.session import SessionData
    from runtime.store._codec import Codec

__all__ = ["BatchedStore", "Done", "GroupCommit", "Write"]

Write = tuple[str, bytes | None]  # (session_id, payload); None deletes the session
Done = Callable[[BaseException | None], object]  # called with None, or the batch's error


class GroupCommit:
    """Write batches on one writer thread (started on the first write, ended by close).

    Handing a write over takes no lock: a deque append, and a wake-up only when the writer
    sleeps. (With a lock around the queue, a worker thread blocked on it while the writer,
    holding it, waited for the GIL: measured as 20% of the time and a pool of workers grown
    to 126 by the dispatcher, which took them for blocked ones.)

    Args:
        flush: writes one batch atomically (all of it or none) and durably; only ever called
            by the writer thread. What it raises fails the batch's writes.
        name: the writer thread's name.
    """

    def __init__(self, flush: Callable[[list[Write]], None], name: str = "runtime-writer") -> None:
        self._flush = flush
        self._name = name
        self._queue: deque[tuple[str, bytes | None, Done]] = deque()
        self._wake = threading.Event()
        self._sleeping = False  # the writer is about to wait, or waits, on _wake
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # batches flushed (statistics)
        self.writes = 0  # writes flushed

    def submit(self, session_id: str, payload: bytes | None, done: Done) -> None:
        """Queue a write (None: delete); ``done(error)`` is called once it is durable or failed.

        ``done`` runs on the writer thread (or on the caller's, at once, if the store is
        closed); it must be quick and must not write to this store itself.
        """
        if self._closed:
            done(StoreUnavailableError("the store is closed"))
            return
        item = (session_id, payload, done)
        self._queue.append(item)
        if self._thread is None:
            try:
                self._start()
            except BaseException:  # "can't start new thread": the write was not queued
                self._queue.remove(item)
                raise
        elif self._sleeping:
            self._wake.set()
        if self._closed:
            # close() raced this call: take the write back unless the writer took it.
            try:
                self._queue.remove(item)
            except ValueError:
                return  # the writer has it: it calls done
            done(StoreUnavailableError("the store is closed"))

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

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

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued (for at most ``timeout`` s), end the writer; later writes fail.

        Past ``timeout`` the writer ends on its own: the batches it still writes then fail
        (the store's connections are closed), and so do their turns.
        """
        self._closed = True
        self._wake.set()
        with self._start_lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            # Writes queued as the writer ended (a submit racing close): fail them.
            self._fail_queued(StoreUnavailableError("the store is closed"))

    def _fail_queued(self, error: BaseException) -> None:
        while True:
            try:
                _, _, done = self._queue.popleft()
            except IndexError:
                return
            _call(done, error)

    def _take(self) -> list[tuple[str, bytes | None, Done]]:
        """Return every queued write, waiting for one; empty once closed and drained."""
        queue = self._queue
        while not queue:
            if self._closed:
                return []
            self._sleeping = True
            if not queue and not self._closed:  # checked after saying so: no lost wake-up
                self._wake.wait()
            self._sleeping = False
            self._wake.clear()
        batch = []
        while True:
            try:
                batch.append(queue.popleft())
            except IndexError:
                return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return  # closed, and everything queued was written
            error: BaseException | None = None
            try:
                self._flush([(session_id, payload) for session_id, payload, _ in batch])
            except BaseException as exc:  # handed to every write of the batch
                error = exc
            self.batches += 1
            self.writes += len(batch)
            for _, _, done in batch:
                _call(done, error)


def _call(done: Done, error: BaseException | None) -> None:
    try:
        done(error)
    except BaseException as exc:  # one broken callback must not stop the writer
        get_logger().error("store_callback_failed", error=describe_exception(exc))


class BatchedStore:
    """The write side every durable store shares: encoded records through a GroupCommit.

    A subclass sets ``codec`` and ``_group`` (whose ``flush`` writes a batch its own way) and
    adds the reads and ``close``.
    """

    durable = True
    codec: Codec
    _group: GroupCommit

    def write(self, session_id: str, payload: bytes) -> None:
        """Replace ``session_id``'s record with ``payload``; return once it is durable."""
        self._group.write(session_id, payload)

    def submit(self, session_id: str, payload: bytes, done: Done) -> None:
        """Queue a write of ``payload``; ``done(error)`` is called once it is durable or failed.

        ``done`` runs on the store's writer thread; it must be quick.
        """
        self._group.submit(session_id, payload, done)

    def save(self, data: SessionData) -> None:
        """Encode ``data`` and write it (see :meth:`write`)."""
        self._group.write(data.id, self.codec.encode(data))

    def delete(self, session_id: str) -> None:
        """Forget ``session_id`` (nothing happens if it is absent)."""
        self._group.write(session_id, None)

    def bind(self, bot: Bot) -> None:
        """Decode intents and the bot module's types to ``bot``'s own objects."""
        self.codec.bind(bot)

    def statistics(self) -> dict[str, int]:
        """Return how many batches and writes the group commit has flushed."""
        return {"batches": self._group.batches, "writes": self._group.writes}
