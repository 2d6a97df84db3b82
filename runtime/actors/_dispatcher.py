"""The dispatcher: a small, elastic pool of worker threads that run pooled actors' slices.

Actors with work are queued on one FIFO run queue; a worker takes an actor, runs up to
``slice_budget`` of its messages (a *slice*), and puts it back at the end of the queue if it has
more. FIFO plus the budget is the fairness rule: an actor with a long backlog waits its turn like
everybody else, so another actor's message waits at most one slice per actor queued before it.

Bodies may block (HTTP or LLM calls). A monitor thread wakes every ``stall_after / 2`` seconds
while slices run (twenty times less often while the pool idles).
A worker is *blocked* when its slice is older than ``stall_after`` and, since the monitor first
saw that slice, its thread used less than 5% of the elapsed time as CPU time: it waits on I/O.
(The monitor reads each thread's own CPU clock; workers never read it themselves, as a
CPU-clock read is a real system call, measured at ~0.6 us, too dear for every slice.) A long
computation uses far more CPU, even sharing the GIL with a few threads, and a thread waiting for
the GIL gets it back within a few switch intervals. When actors wait on the run queue and fewer
than ``workers`` workers are not blocked, the monitor starts workers until ``workers`` are free
again, up to ``max_workers``. Under the GIL more threads than cores buy nothing for CPU-bound
work (measured: 2 workers were slower than 1 with 8 sender threads competing for the GIL), so
CPU-bound or GIL-starved slices never grow the pool. Workers beyond ``workers`` retire after
``idle_timeout`` seconds without work, or once no worker has been blocked for ``idle_timeout``
seconds even if work keeps coming.

Messages that never end (an endless loop, a call that never returns) cannot be pre-empted in
Python, but they can be noticed: with ``message_timeout`` set, the monitor notes how many
messages each worker has handled; a worker whose count has not moved for ``message_timeout``
seconds is *overrun*. The monitor tells the actor once (``PooledActor.on_overrun``, which the
session actor uses to fail the turn's future) and stops counting that worker as one of the pool:
it starts a replacement when work waits, even for CPU-bound bodies and beyond ``max_workers``
(up to ``max_workers`` overrun workers more), so the other actors keep moving.

One case it cannot tell apart: on a host so overloaded that the kernel starves a spinning
worker below 5% CPU, that worker looks blocked and the pool grows (up to ``max_workers``); this
costs threads, not correctness.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime._checks import check_seconds
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.actors._pooled import PooledActor

__all__ = ["Dispatcher", "DispatcherStats", "WorkerTrace"]

_SHUTDOWN = object()
_names = itertools.count()


@dataclass(frozen=True)
class DispatcherStats:
    """A moment's view of the pool."""

    workers: int  # worker threads alive now
    peak_workers: int  # most worker threads alive at once
    stalled_workers: int  # workers inside one slice for longer than stall_after
    queued_actors: int  # actors waiting on the run queue
    slices: int  # slices run so far (approximate: counted without a lock)
    overrun_workers: int = 0  # workers stuck in one message longer than message_timeout


class WorkerTrace:
    """One worker thread as the monitor sees it."""

    __slots__ = (
        "actor",
        "baseline",
        "cpu_clock",
        "handled",
        "overrun",
        "seen",
        "slice_started",
        "thread",
    )

    def __init__(self) -> None:
        self.slice_started = 0.0  # monotonic time the current slice began; 0.0 when idle
        self.actor: PooledActor | None = None  # the actor whose slice runs now
        self.handled = 0  # messages begun so far (the slice increments it)
        self.seen: tuple[int, float] = (0, 0.0)  # (handled, when the monitor first saw it)
        self.overrun = False  # stuck in one message past message_timeout
        # (slice_started, wall, cpu) when the monitor first saw the current slice.
        self.baseline: tuple[float, float, float] | None = None
        self.thread: threading.Thread | None = None
        self.cpu_clock: int | None = None  # the thread's CPU-time clock, set by the thread

    def cpu_time(self) -> float | None:
        clock = self.cpu_clock
        if clock is None:
            return None
        try:
            return time.clock_gettime(clock)
        except OSError:  # the thread just ended
            return None


class Dispatcher:
    """Run pooled actors on a few shared threads.

    Args:
        workers: threads kept running, also the number kept free of stalled slices.
        max_workers: the most threads the pool grows to while slices block.
        slice_budget: the most messages one actor handles before yielding its worker.
        stall_after: seconds after which a slice counts as stalled (blocked).
        idle_timeout: seconds an extra worker waits for work before retiring.
        message_timeout: seconds after which one message counts as overrun (None: never).
        name: prefix of the worker thread names.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        max_workers: int = 128,
        slice_budget: int = 16,
        stall_after: float = 0.002,
        idle_timeout: float = 2.0,
        message_timeout: float | None = None,
        name: str = "runtime",
    ) -> None:
        for arg, value in (
            ("workers", workers),
            ("max_workers", max_workers),
            ("slice_budget", slice_budget),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        if max_workers < workers:
            raise ValueError(f"max_workers ({max_workers}) must be >= workers ({workers})")
        check_seconds("stall_after", stall_after)
        check_seconds("idle_timeout", idle_timeout)
        if message_timeout is not None:
            check_seconds("message_timeout", message_timeout)
        self.message_timeout = message_timeout
        self.min_workers = workers
        self.max_workers = max_workers
        self.slice_budget = slice_budget
        self.stall_after = float(stall_after)
        self.idle_timeout = float(idle_timeout)
        self._name = f"{name}-{next(_names)}"
        self._runq: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[WorkerTrace] = []
        self._peak = 0
        self._slices = 0
        self._retire = 0  # extra workers asked to retire though work keeps coming
        self._started = False
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._log = get_logger(dispatcher=self._name)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the stall monitor."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for _ in range(self.min_workers):
                self._spawn_locked()
        self._monitor = threading.Thread(
            target=self._watch, name=f"{self._name}-monitor", daemon=True
        )
        self._monitor.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop every worker once it finishes its slice; return whether all stopped in time.

        Workers are daemon threads: one stuck in a body that never returns does not keep the
        process alive.
        """
        with self._lock:  # the monitor spawns under this lock and not once stopping is set
            self._stopping.set()
            workers = list(self._workers)
        for _ in workers:
            self._runq.put(_SHUTDOWN)
        deadline = time.monotonic() + timeout
        for worker in workers:
            assert worker.thread is not None
            if worker.thread is not threading.current_thread():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        if self._monitor is not None:
            self._monitor.join(max(0.0, deadline - time.monotonic()))
        return not any(w.thread is not None and w.thread.is_alive() for w in workers)

    def schedule(self, actor: PooledActor) -> None:
        """Queue ``actor`` to get a slice (its inbox guarantees it is queued at most once)."""
        self._runq.put(actor)

    def statistics(self) -> DispatcherStats:
        """Return a view of the pool now."""
        now = time.monotonic()
        with self._lock:
            workers = list(self._workers)
            peak = self._peak
        stalled = sum(
            1 for w in workers if w.slice_started and now - w.slice_started > self.stall_after
        )  # blocked or busy: the monitor tells them apart with the threads' CPU clocks
        return DispatcherStats(
            workers=len(workers),
            peak_workers=peak,
            stalled_workers=stalled,
            queued_actors=self._runq.qsize(),
            slices=self._slices,
            overrun_workers=sum(1 for w in workers if w.overrun),
        )

    @property
    def running(self) -> bool:
        """Whether the pool was started and not stopped."""
        return self._started and not self._stopping.is_set()

    # -- workers ----------------------------------------------------------------------------

    def _spawn_locked(self) -> None:
        worker = WorkerTrace()
        worker.thread = threading.Thread(
            target=self._work,
            args=(worker,),
            name=f"{self._name}-worker-{len(self._workers)}",
            daemon=True,
        )
        self._workers.append(worker)
        self._peak = max(self._peak, len(self._workers))
        worker.thread.start()

    def _work(self, worker: WorkerTrace) -> None:
        if hasattr(time, "pthread_getcpuclockid"):
            worker.cpu_clock = time.pthread_getcpuclockid(threading.get_ident())
        get = self._runq.get
        budget = self.slice_budget
        clock = time.monotonic
        while True:
            if self._retire > 0 and self._retire_one(worker):
                return
            try:
                actor = get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._stopping.is_set() or len(self._workers) > self.min_workers:
                        self._workers.remove(worker)
                        self._retire = max(0, self._retire - 1)
                        return
                continue
            if actor is _SHUTDOWN:
                with self._lock:
                    if worker in self._workers:
                        self._workers.remove(worker)
                return
            worker.actor = actor  # type: ignore[assignment]
            worker.slice_started = clock()
            try:
                actor._pooled_run_slice(budget, worker)  # type: ignore[attr-defined]
            except BaseException:
                # A slice never raises by design (pooled actors catch what pykka catches);
                # if it does, keep the worker alive: one bad actor must not shrink the pool.
                self._log.exception("dispatcher_slice_failed", actor=repr(actor))
            worker.slice_started = 0.0
            worker.actor = None
            if worker.overrun:
                with self._lock:
                    worker.overrun = False  # back in the pool; a spare will retire when idle
            self._slices += 1  # not atomic across workers; only read as "did it change"

    def _retire_one(self, worker: WorkerTrace) -> bool:
        with self._lock:
            if len(self._workers) <= self.min_workers:
                self._retire = 0
            if self._retire <= 0:
                return False
            self._retire -= 1
            self._workers.remove(worker)
            return True

    def _find_overruns(self, now: float) -> list[tuple[PooledActor, int, int]]:
        """Mark workers stuck in one unit of work past ``message_timeout``; return new ones.

        A unit is one message, or the start of a slice (an actor's ``on_start``): the slice
        counts both in ``handled``, so a slow start does not hide a later stuck message.
        """
        limit = self.message_timeout
        found: list[tuple[PooledActor, int, int]] = []
        if limit is None:
            return found
        for w in self._workers:
            if not w.slice_started:
                continue
            handled = w.handled
            if w.seen[0] != handled:
                w.seen = (handled, now)
                w.overrun = False
                continue
            actor, thread = w.actor, w.thread
            if w.overrun or actor is None or thread is None:
                continue
            if now - w.seen[1] >= limit:
                w.overrun = True
                found.append((actor, thread.ident or 0, handled))
        return found

    def _blocked(self, now: float) -> int:
        """Count workers stuck in a slice: waiting on I/O (little CPU), or overrun."""
        blocked = 0
        for w in self._workers:
            started = w.slice_started
            if not started:
                continue
            if w.overrun:
                blocked += 1
                continue
            baseline = w.baseline
            if baseline is None or baseline[0] != started:
                cpu = w.cpu_time()
                if cpu is not None:
                    w.baseline = (started, now, cpu)
                continue  # a slice seen for the first time: judge it at the next look
            if now - started <= self.stall_after:
                continue
            cpu = w.cpu_time()
            if cpu is not None and cpu - baseline[2] < 0.05 * (now - baseline[1]):
                blocked += 1
        return blocked

    def _watch(self) -> None:
        busy_interval = self.stall_after / 2
        interval = busy_interval
        calm_since = time.monotonic()
        while not self._stopping.wait(interval):
            now = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    return
                # Look often while slices run, seldom while the pool idles.
                idle = self._runq.empty() and not any(w.slice_started for w in self._workers)
                interval = busy_interval * 20 if idle else busy_interval
                overruns = self._find_overruns(now)
                blocked = self._blocked(now)
                if blocked:
                    calm_since = now
                    self._retire = 0
                elif len(self._workers) > self.min_workers and now - calm_since > self.idle_timeout:
                    self._retire = len(self._workers) - self.min_workers
                if blocked and not self._runq.empty():
                    free = len(self._workers) - blocked
                    # Overrun workers do not count against max_workers (up to as many again).
                    overrun = min(sum(1 for w in self._workers if w.overrun), self.max_workers)
                    cap = self.max_workers + overrun
                    missing = min(self.min_workers - free, cap - len(self._workers))
                    for _ in range(missing):
                        self._spawn_locked()
            for actor, thread_id, unit in overruns:  # outside the lock: the actor's code
                try:
                    actor.on_overrun(thread_id, unit)
                except Exception:
                    self._log.exception("on_overrun_failed", actor=repr(actor))
