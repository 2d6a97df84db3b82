"""A deterministic scheduler: threads take turns one at a time, switching at the bot's lines.

Every task runs on its own thread, but only the thread holding the *baton* runs. A thread may
hand the baton over only at a *yield point*: a ``line`` event of the bot's own code (its files,
traced with ``sys.settrace``) or an explicit :meth:`LineScheduler.checkpoint` (before each
turn). Library and runtime code between two yield points runs atomically. Which thread runs
next is a :class:`Strategy`'s decision, from a seeded ``random.Random``; with the same seed and
the same bot, every run takes the same schedule and gives the same result.

:class:`PCT` is probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi and
Nagarakatte, ASPLOS 2010): random thread priorities, the highest-priority thread runs, and at
``depth - 1`` random steps the running thread drops to the lowest priority. A bug that needs
``d`` ordering constraints among ``n`` threads and ``k`` steps is found with probability at
least ``1 / (n * k**(d - 1))`` per run; in practice much more often.

One thing a baton cannot order: a thread that blocks (a lock another paused thread holds, a
queue, a sleep longer than ``block_timeout``) would stop everyone. After ``block_timeout``
without a yield point the baton moves on to another thread; the blocked thread rejoins at its
next yield point. Such a run may not replay exactly; the report says when it happened.
"""

from __future__ import annotations

import _thread
import os
import random
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

__all__ = ["PCT", "LineScheduler", "RandomWalk", "Run", "Strategy", "Switch", "active"]


class Strategy(Protocol):
    """Decides which thread holds the baton next."""

    def pick(self, step: int, current: str | None, waiting: Sequence[str]) -> str:
        """Return the thread to run at yield point ``step``.

        Args:
            step: how many yield points were reached so far in this run (from 1).
            current: the thread at the yield point (None at the start, or when it finished or
                blocked: then it is not a candidate).
            waiting: the other threads that can run, in task order.
        """
        ...


class PCT:
    """Probabilistic concurrency testing: random priorities, ``depth - 1`` change points.

    Args:
        rng: the run's random source.
        threads: every task's name.
        depth: the bug depth aimed at (``depth - 1`` priority changes); at least 1.
        steps: the expected number of yield points in a run (change points fall in 1..steps).
    """

    def __init__(self, rng: random.Random, threads: Sequence[str], depth: int, steps: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        order = list(threads)
        rng.shuffle(order)
        # Initial priorities depth .. depth + n - 1; change point i lowers to depth - 1 - i.
        self._priority = {name: depth + rank for rank, name in enumerate(order)}
        points = rng.sample(range(1, max(steps, depth) + 1), depth - 1)
        self._change = {step: depth - 1 - i for i, step in enumerate(sorted(points))}
        self.depth = depth

    def pick(self, step: int, current: str | None, waiting: Sequence[str]) -> str:
        if current is not None and step in self._change:
            self._priority[current] = self._change[step]
        candidates = [*waiting, current] if current is not None else list(waiting)
        return max(candidates, key=self._priority.__getitem__)


class RandomWalk:
    """At each yield point, switch with probability ``switch`` to a uniformly chosen thread."""

    def __init__(self, rng: random.Random, switch: float) -> None:
        self._rng = rng
        self._switch = switch

    def pick(self, step: int, current: str | None, waiting: Sequence[str]) -> str:
        if current is not None and (not waiting or self._rng.random() >= self._switch):
            return current
        return waiting[self._rng.randrange(len(waiting))]


@dataclass(frozen=True)
class Switch:
    """The baton moved from ``source`` (at ``where``) to ``dest`` at yield point ``step``."""

    step: int
    source: str
    dest: str
    where: str

    def __str__(self) -> str:
        return f"{self.source} at {self.where} -> {self.dest}"


@dataclass
class Run:
    """What one scheduled run did."""

    steps: int = 0
    switches: list[Switch] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    """Where a thread blocked past ``block_timeout`` (the run may not replay exactly)."""
    errors: dict[str, BaseException] = field(default_factory=dict)
    """Exceptions that escaped a task (they end that task only)."""


class _Gate:
    """Where a task waits for the baton: closed until opened once, closed again by the wait.

    Built on a raw lock, as is everything the scheduler itself waits on: the bot's
    ``threading`` locks and events may be cooperative ones (``_cooperative``), which call back
    into the scheduler.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def open(self) -> None:
        self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _Flag:
    """A one-way flag the caller's thread waits on, with a timeout (raw locks only)."""

    def __init__(self) -> None:
        self._condition = threading.Condition(_thread.allocate_lock())
        self._set = False

    def set(self) -> None:
        with self._condition:
            self._set = True
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._condition:
            if not self._set:
                self._condition.wait(timeout)
            return self._set


class _Task:
    __slots__ = ("go", "name", "order", "where")

    def __init__(self, name: str, order: int) -> None:
        self.name = name
        self.order = order
        self.go = _Gate()
        self.where = "start"


class LineScheduler:
    """Run tasks one at a time, switching only at yield points, as a strategy decides.

    Args:
        code_files: the files whose ``line`` events are yield points (the bot's own code).
        strategy: who runs next.
        block_timeout: seconds without a yield point after which the running thread is taken
            as blocked and the baton moves on.
        deadlock_timeout: seconds with every unfinished thread blocked before giving up.
    """

    def __init__(
        self,
        code_files: Collection[str],
        strategy: Strategy,
        *,
        block_timeout: float = 0.25,
        deadlock_timeout: float = 30.0,
    ) -> None:
        self._files = frozenset(code_files)
        self._strategy = strategy
        self._block_timeout = block_timeout
        self._deadlock_timeout = deadlock_timeout
        self._mutex = _thread.allocate_lock()  # real: a bot's locks may be cooperative
        self._tasks: dict[int, _Task] = {}  # thread ident -> task
        self._holder: _Task | None = None
        self._waiting: list[_Task] = []  # ready for the baton, in task order
        self._blocked: set[str] = set()
        self._lock_waiting: set[str] = set()
        self._left = 0
        self._ticks = 0
        self._handoffs = 0
        self._all_done = _Flag()
        self._run = Run()

    # -- in the tasks' threads ----------------------------------------------------------------

    def checkpoint(self, where: str) -> None:
        """A yield point outside the traced code (the caller names it, e.g. "alice step 3")."""
        task = self._tasks.get(threading.get_ident())
        if task is not None:
            self._yield(task, where)

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename in self._files:
            return self._trace_lines
        return None

    def _trace_lines(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            task = self._tasks.get(threading.get_ident())
            if task is not None:
                code = frame.f_code
                self._yield(task, f"{os.path.basename(code.co_filename)}:{frame.f_lineno}")
        return self._trace_lines

    def _yield(self, task: _Task, where: str) -> None:
        with self._mutex:
            self._ticks += 1
            task.where = where
            if self._holder is not task:
                # It blocked and the baton moved on; it is back: wait for the baton again.
                self._blocked.discard(task.name)
                self._wait_in_line(task)
                if self._holder is None:
                    self._pass_on(None)
            else:
                self._lock_waiting.clear()  # progress: lock waiters may retry
                run = self._run
                run.steps += 1
                chosen = self._strategy.pick(run.steps, task.name, self._names())
                if chosen == task.name:
                    return
                run.switches.append(Switch(run.steps, task.name, chosen, where))
                self._wait_in_line(task)
                self._hand_to(chosen)
        task.go.wait()

    def wait_for_lock(self, what: str) -> bool:
        """Let another task run because this one cannot take a lock another task holds (a
        cooperative lock calls this instead of blocking the baton holder).

        Returns:
            True once this task holds the baton again (the caller retries the lock); False
            when the calling thread is not a task of this scheduler or no other task can run
            (the caller then blocks for real).

        Raises:
            RuntimeError: every other task is waiting for a lock too (a deadlock in the bot).
        """
        task = self._tasks.get(threading.get_ident())
        if task is None:
            return False
        with self._mutex:
            if self._holder is not task:
                return False
            self._lock_waiting.add(task.name)
            candidates = [t.name for t in self._waiting if t.name not in self._lock_waiting]
            if not candidates:
                if self._waiting:
                    waiting = ", ".join(sorted(self._lock_waiting))
                    raise RuntimeError(f"deadlock: {waiting} all wait for locks in the bot")
                return False
            run = self._run
            chosen = self._strategy.pick(run.steps, None, candidates)
            run.switches.append(Switch(run.steps, task.name, chosen, f"{task.where} ({what})"))
            self._wait_in_line(task)
            self._hand_to(chosen)
        task.go.wait()
        return True

    def _wait_in_line(self, task: _Task) -> None:
        self._waiting.append(task)
        self._waiting.sort(key=lambda t: t.order)

    def _names(self) -> list[str]:
        return [t.name for t in self._waiting]

    def _hand_to(self, name: str) -> None:
        task = next(t for t in self._waiting if t.name == name)
        self._waiting.remove(task)
        self._holder = task
        self._handoffs += 1
        task.go.open()

    def _main(self, task: _Task, body: Callable[[], object]) -> None:
        task.go.wait()
        sys.settrace(self._trace)
        try:
            body()
        except BaseException as exc:  # reported in the run; it ends this task only
            self._run.errors[task.name] = exc
        finally:
            sys.settrace(None)
            with self._mutex:
                self._left -= 1
                self._blocked.discard(task.name)
                if self._holder is task:
                    self._holder = None
                    self._pass_on(None)
                if self._left == 0:
                    self._all_done.set()

    def _pass_on(self, current: str | None) -> None:
        """Give the baton to the strategy's pick among the waiting threads (mutex held)."""
        if self._waiting:
            self._hand_to(self._strategy.pick(self._run.steps, current, self._names()))

    # -- in the caller's thread ---------------------------------------------------------------

    def run(self, tasks: Mapping[str, Callable[[], object]]) -> Run:
        """Run ``tasks`` (name -> function) to the end under the strategy; return the run.

        Raises:
            RuntimeError: every unfinished task stayed blocked for ``deadlock_timeout``.
        """
        global _active  # noqa: PLW0603 - the one scheduler cooperative locks report to
        _active = self
        try:
            return self._run_tasks(tasks)
        finally:
            _active = None

    def _run_tasks(self, tasks: Mapping[str, Callable[[], object]]) -> Run:
        threads = []
        for order, (name, body) in enumerate(tasks.items()):
            task = _Task(name, order)
            thread = threading.Thread(
                target=self._main, args=(task, body), name=f"scheduled-{name}", daemon=True
            )
            thread.start()
            assert thread.ident is not None
            self._tasks[thread.ident] = task
            self._waiting.append(task)
            threads.append(thread)
        self._left = len(threads)
        if not threads:
            return self._run
        with self._mutex:
            self._pass_on(None)
        self._watch()
        for thread in threads:
            thread.join()
        return self._run

    def _watch(self) -> None:
        """Move the baton on from a thread that stopped reaching yield points (blocked)."""
        last = (-1, -1)
        idle = 0.0
        while not self._all_done.wait(self._block_timeout):
            with self._mutex:
                progress = (self._ticks, self._handoffs)
                if progress != last:
                    last, idle = progress, 0.0
                    continue
                holder = self._holder
                if holder is not None:
                    # A whole timeout without a yield point: blocked (or in one long call).
                    self._run.blocked.append(f"{holder.name} at {holder.where}")
                    self._blocked.add(holder.name)
                    self._holder = None
                    self._pass_on(None)
                    last = (self._ticks, self._handoffs)
                    continue
                # Nobody holds the baton and nobody waits: every unfinished thread is blocked.
                idle += self._block_timeout
                if idle >= self._deadlock_timeout:
                    raise RuntimeError(
                        f"deadlock: {', '.join(sorted(self._blocked))} blocked for "
                        f"{self._deadlock_timeout:.0f} s in the bot's code"
                    )


_active: LineScheduler | None = None


def active() -> LineScheduler | None:
    """The scheduler running now in this process, if any (for cooperative locks)."""
    return _active
