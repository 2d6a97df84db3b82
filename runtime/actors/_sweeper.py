"""The sweeper: passivates idle sessions and keeps the live set under its cap.

It wakes every ``interval`` seconds (a quarter of ``idle_timeout``, between 10 ms and 1 s), sets
the routing table's clock from the real time, and asks idle and least-recently-used sessions to
passivate. The clock counts *seconds* in ticks of ``interval`` whatever wakes the sweeper (an
activation past the cap wakes it early), so ``idle_timeout`` means seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runtime.actors._cell import SessionCell
from runtime.actors._directory import Directory
from runtime.log import get_logger

__all__ = ["Sweeper"]


class Sweeper:
    """Ask idle and surplus sessions to passivate, from a thread of its own.

    Args:
        directory: the routing table (its clock is advanced here).
        request_passivation: queues a passivation request on a cell.
        idle_timeout: passivate sessions without events for this many seconds (None: never).
        max_live_sessions: passivate the least recently used beyond this many (down to 90%).
    """

    def __init__(
        self,
        directory: Directory,
        request_passivation: Callable[[SessionCell], object],
        *,
        idle_timeout: float | None,
        max_live_sessions: int | None,
    ) -> None:
        self._directory = directory
        self._request = request_passivation
        self.idle_timeout = idle_timeout
        self.max_live_sessions = max_live_sessions
        self.interval = 0.05 if idle_timeout is None else min(max(idle_timeout / 4, 0.01), 1.0)
        self._origin = time.monotonic()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = get_logger()

    def start(self) -> None:
        """Start sweeping (only if there is something to sweep for)."""
        if self.idle_timeout is None and self.max_live_sessions is None:
            return
        self._thread = threading.Thread(target=self._loop, name="runtime-sweeper", daemon=True)
        self._thread.start()

    def wake(self, live: int) -> None:
        """Sweep now if ``live`` sessions exceed the cap."""
        if self.max_live_sessions is not None and live > self.max_live_sessions:
            self._wake.set()

    def stop(self, timeout: float) -> None:
        """Stop the thread (waits up to ``timeout`` seconds for it)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self._directory.tick = int((time.monotonic() - self._origin) / self.interval)
            try:
                self.sweep()
            except Exception:  # never let the sweeper die: log and go on
                self._log.exception("sweep_failed")

    def sweep(self) -> int:
        """Ask idle and least-recently-used sessions to passivate; return how many were asked."""
        cells = self._directory.cells()
        tick = self._directory.tick
        victims: list[SessionCell] = []
        if self.idle_timeout is not None:
            # A cell's stamp lags the real time by up to one tick: one more tick makes sure a
            # session is idle for at least idle_timeout (and at most about 1.5 times it).
            idle_ticks = self.idle_timeout / self.interval + 1
            victims = [c for c in cells if tick - c.touched >= idle_ticks]
        limit = self.max_live_sessions
        if limit is not None and len(cells) - len(victims) > limit:
            chosen = {id(c) for c in victims}
            rest = sorted((c for c in cells if id(c) not in chosen), key=lambda c: c.touched)
            victims.extend(rest[: len(rest) - int(limit * 0.9)])
        for cell in victims:
            self._request(cell)
        return len(victims)
