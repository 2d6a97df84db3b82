"""One thread that runs callbacks after a delay (restart backoff of crashing sessions).

``threading.Timer`` would start a thread per delayed call; a crash storm across many sessions
must not start thousands of threads. The thread starts on the first call and ends at
:meth:`Timer.stop`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from runtime.log import get_logger

__all__ = ["Timer"]


class Timer:
    """Run callbacks after a delay, in due order, on one daemon thread."""

    def __init__(self, name: str = "runtime-timer") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties run in call order
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` in ``delay`` seconds (never, if the timer stops first)."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Drop the calls not yet due and end the thread."""
        with self._cond:
            self._stopped = True
            self._due.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._due:
                        wait = self._due[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopped:
                    return
                _, _, callback = heapq.heappop(self._due)
            try:
                callback()
            except Exception as exc:  # one failed callback must not end the timer
                get_logger().error("timer_callback_failed", error=repr(exc))
