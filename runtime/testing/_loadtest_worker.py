"""One load-test worker: a share of the clients on one event loop, and what they measured.

A worker connects its clients, staggered over the ramp (client N of the run starts at
``N * ramp / clients``), waits until each has its session or gave up, then, at the go, starts
every client's closed loop and waits until each is done or gave up. A watchdog looks every
0.25 s for clients waiting past the timeout. During the message phase the cyclic GC is off:
the hot path makes no reference cycles, and collections only rescanned the clients' objects
(a tenth of the client's CPU, measured with py-spy).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import gc
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime.testing._loadtest_client import Client, ClientResult, Pacer

__all__ = ["Worker", "WorkerResult", "WorkerTask"]

_WATCH_EVERY = 0.25  # seconds between two looks for replies that are overdue


@dataclass(frozen=True)
class WorkerTask:
    """What one worker runs: its share of the clients and how.

    Attributes:
        url: the ``ws://`` or ``wss://`` URL of the ``/ws`` endpoint.
        numbers: the run-wide numbers of this worker's clients.
        bodies: per client, each step's frame without its ``id`` (serialised JSON objects);
            equal steps may share one ``bytes``.
        clients_in_run: clients over all workers (the ramp spreads them all).
        ramp: seconds over which the clients of the whole run start connecting.
        timeout: seconds to wait for a connection, or for any one reply.
        rate: messages per second this worker may send at most (None: no cap).
        keep_replies: keep every replies frame, for the isolation check.
    """

    url: str
    numbers: tuple[int, ...]
    bodies: tuple[tuple[bytes, ...], ...]
    clients_in_run: int
    ramp: float
    timeout: float
    rate: float | None = None
    keep_replies: bool = False


@dataclass
class WorkerResult:
    """What one worker measured (picklable: it crosses from a worker process).

    Attributes:
        clients: one result per client, in task order.
        latencies: seconds from the first send of each answered message to its replies.
        connect_seconds: per connected client, TCP connect to its ``session`` frame.
        connect_wall: seconds from the first connection attempt to the last settled.
        errors: error frames by code (throttles not included).
        throttled: ``rate_limited`` frames (each one resent).
        lost: messages sent and never answered nor refused within the timeout.
        crossed: ``replies`` or ``error`` frames naming an id the client was not waiting for.
        unsolicited: ``replies`` frames with a null ``in_reply_to`` (session openings).
        started: ``time.perf_counter()`` when the message phase began here.
        finished: ``time.perf_counter()`` when this worker's last client was done.
        cpu_seconds: this process's CPU time over the message phase.
    """

    clients: list[ClientResult]
    latencies: array.array[float]
    connect_seconds: list[float]
    connect_wall: float
    errors: Counter[str]
    throttled: int
    lost: int
    crossed: int
    unsolicited: int
    started: float
    finished: float
    cpu_seconds: float


class Worker:
    """Run a :class:`WorkerTask` on the running loop: connect, wait for the go, send, report.

    Args:
        task: the clients and settings.
    """

    def __init__(self, task: WorkerTask) -> None:
        self.task = task
        url = urlsplit(task.url)
        secure = url.scheme == "wss"
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if secure else 80)
        self.host_header = url.netloc.rpartition("@")[2]
        self.path = url.path or "/"
        self.keep_replies = task.keep_replies
        self.loop = asyncio.get_running_loop()
        self.pacer = None if task.rate is None else Pacer(self.loop, task.rate)
        self.latencies: array.array[float] = array.array("d")
        self.errors: Counter[str] = Counter()
        self.throttled = self.lost = self.crossed = self.unsolicited = 0
        self._ssl = ssl.create_default_context() if secure else None
        self._clients = [
            Client(self, number, bodies)
            for number, bodies in zip(task.numbers, task.bodies, strict=True)
        ]
        self._connect_seconds: list[float] = []
        self._unsettled: set[Client] = set()  # clients the current phase waits for
        self._phase_over: asyncio.Future[None] = self.loop.create_future()
        self._open = 0  # connections made or being made, not yet gone
        self._connecting: set[asyncio.Task[None]] = set()
        self._all_closed: asyncio.Future[None] | None = None
        self._started = self._finished = 0.0
        self.connect_wall = 0.0
        self.cpu_seconds = 0.0

    @property
    def answered(self) -> int:
        """Messages answered so far (for the progress bar)."""
        return len(self.latencies)

    async def connect(self) -> int:
        """Connect every client, staggered over the ramp; return how many got a session."""
        began = time.perf_counter()
        await self._phase(self._clients, self._schedule_connections)
        self.connect_wall = time.perf_counter() - began
        return len(self._connect_seconds)

    def _schedule_connections(self) -> None:
        spacing = self.task.ramp / self.task.clients_in_run
        base = self.loop.time()
        for client in self._clients:
            self.loop.call_at(base + client.result.number * spacing, self._open_one, client)

    def _open_one(self, client: Client) -> None:
        self._open += 1
        client.connect_began = time.perf_counter()
        task = self.loop.create_task(self._create_connection(client))
        self._connecting.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._connecting.discard)

    async def _create_connection(self, client: Client) -> None:
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: client, self.host, self.port, ssl=self._ssl),
                self.task.timeout,
            )
        except (OSError, TimeoutError) as exc:
            self._open -= 1
            client.failed_to_connect(exc)

    def connected(self, client: Client, seconds: float) -> None:
        """Count a client that got its session."""
        self._connect_seconds.append(seconds)
        self._settle(client)

    def finished(self, client: Client) -> None:
        """Count a client that is done (all sent and answered) or gave up."""
        self._settle(client)

    def closed(self, client: Client) -> None:
        """Count a connection that is gone."""
        self._open -= 1
        if self._open <= 0 and self._all_closed is not None and not self._all_closed.done():
            self._all_closed.set_result(None)

    def _settle(self, client: Client) -> None:
        unsettled = self._unsettled
        if client in unsettled:
            unsettled.remove(client)
            if not unsettled and not self._phase_over.done():
                self._phase_over.set_result(None)

    async def _phase(self, clients: list[Client], begin: Callable[[], None]) -> None:
        """Call ``begin``, then wait until each of ``clients`` settled (or gave up)."""
        if not clients:
            return
        self._unsettled = set(clients)
        self._phase_over = self.loop.create_future()
        watch = self.loop.call_later(_WATCH_EVERY, self._watch)
        try:
            begin()
            await self._phase_over
        finally:
            watch.cancel()

    def _watch(self) -> None:
        now = time.perf_counter()
        timeout = self.task.timeout
        for client in list(self._unsettled):
            client.check_overdue(now, timeout)
        if not self._phase_over.done():
            self.loop.call_later(_WATCH_EVERY, self._watch)

    async def run_messages(self) -> None:
        """Run the message phase: every connected client's closed loop, to the end."""
        running = [c for c in self._clients if c.result.connected and not c.done]

        def start() -> None:
            for client in running:
                client.start()

        # No cyclic GC while the clients run (see the module doc).
        collecting = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        cpu = time.process_time()
        self._started = time.perf_counter()
        try:
            await self._phase(running, start)
        finally:
            self._finished = time.perf_counter()
            self.cpu_seconds = time.process_time() - cpu
            gc.unfreeze()
            if collecting:
                gc.enable()

    async def close(self, timeout: float = 5.0) -> None:
        """Close every connection still open and wait (up to ``timeout``) until they are."""
        for client in self._clients:
            client.stop_at_end()
        if self._open > 0:
            self._all_closed = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed, timeout)

    def result(self) -> WorkerResult:
        """Return what was measured (after :meth:`run_messages`)."""
        return WorkerResult(
            clients=[client.result for client in self._clients],
            latencies=self.latencies,
            connect_seconds=self._connect_seconds,
            connect_wall=self.connect_wall,
            errors=self.errors,
            throttled=self.throttled,
            lost=self.lost,
            crossed=self.crossed,
            unsolicited=self.unsolicited,
            started=self._started,
            finished=self._finished,
            cpu_seconds=self.cpu_seconds,
        )
