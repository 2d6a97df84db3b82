"""What every endpoint of one gateway shares: the runtime, limits, tokens, metrics, draining.

The gate also counts turns in flight from this gateway, so a shutdown can stop taking new
events and wait for the accepted ones (``drain``) before the connections close. All of it is
used on the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from runtime.errors import (
    OverloadedError,
    RuntimeStoppedError,
    SessionValueError,
    StoreUnavailableError,
    TurnTimeoutError,
)
from runtime.log import get_logger
from runtime.platforms.web._metrics import GatewayMetrics
from runtime.platforms.web._settings import WebSettings
from runtime.platforms.web._tokens import SessionTokens
from runtime.runtime import Runtime
from runtime.session import SessionSnapshot

__all__ = ["TYPING_AFTER", "Gate", "LoopInbox", "RateLimiter", "TypingTicker", "error_code"]

_log = get_logger()

TYPING_AFTER = 0.3
"""Seconds a turn may take before the client is told the bot is typing."""

MAX_SNAPSHOTS = 4
"""Snapshots (history reads) running at once; more wait their turn."""


def error_code(exc: BaseException) -> str:
    """The protocol's error code for a failed turn."""
    if isinstance(exc, OverloadedError):
        return "overloaded"
    if isinstance(exc, RuntimeStoppedError):
        return "shutting_down"
    if isinstance(exc, TurnTimeoutError):
        return "timeout"
    if isinstance(exc, StoreUnavailableError):
        return "store_unavailable"
    if isinstance(exc, SessionValueError):
        return "bad_value"
    return "turn_failed"


class RateLimiter:
    """A token bucket: ``rate`` per second on average, ``burst`` at once."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    def take(self, amount: float = 1.0) -> float:
        """Take ``amount`` tokens: 0.0 if there were enough, else the seconds until there are.

        An amount over the burst is let through when the bucket is full (one oversized frame
        is the size limit's business, not the rate's), leaving the bucket in debt.
        """
        now = time.monotonic()
        tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if tokens >= amount or tokens >= self._burst:
            self._tokens = tokens - amount
            return 0.0
        self._tokens = tokens
        return (min(amount, self._burst) - tokens) / self._rate


class _Typing(Protocol):
    def check_typing(self, now: float) -> None: ...


class _Flushable(Protocol):
    async def flush(self) -> None: ...


class TypingTicker:
    """One timer for the whole gateway that tells connections with slow turns to show typing.

    A timer per turn cost ~10% of a message's server time (measured); this ticks every
    ``TYPING_AFTER / 2`` seconds only while some connection has a turn in flight.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._watched: set[_Typing] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, connection: _Typing) -> None:
        """Check ``connection`` at each tick until :meth:`unwatch`."""
        self._watched.add(connection)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._tick)

    def unwatch(self, connection: _Typing) -> None:
        """Stop checking ``connection``."""
        self._watched.discard(connection)

    def _tick(self) -> None:
        self._timer = None
        now = time.perf_counter()
        for connection in list(self._watched):
            connection.check_typing(now)
        if self._watched:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._tick)


class LoopInbox:
    """Calls from sessions' threads to the event loop, with one wake-up per batch.

    ``call_soon_threadsafe`` writes to the loop's wake-up pipe on every call: one syscall per
    turn, ~11% of the server's time per message under load (measured with py-spy). Here calls
    queue up in order and the loop is woken only when it has not been woken for them yet.
    An append happens before the flag is read, and the loop clears the flag before it drains,
    so every call is either drained by the run under way or schedules a new one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._calls: deque[tuple[Callable[..., object], tuple[object, ...]]] = deque()
        self._scheduled = False

    def call(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the loop, after the calls made before it (any thread)."""
        self._calls.append((callback, args))
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                self.loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        self._scheduled = False
        calls = self._calls
        while calls:
            callback, args = calls.popleft()
            try:
                callback(*args)
            except Exception:  # one connection's bug must not starve the others' calls
                _log.exception("loop_inbox_call_failed", callback=repr(callback))


class Gate:
    """The shared state of one gateway (see module doc).

    Args:
        runtime: the started runtime to serve.
        settings: the limits.
    """

    _MAX_LIMITERS = 100_000

    def __init__(self, runtime: Runtime, settings: WebSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.tokens = SessionTokens(settings.secret)
        self.metrics = GatewayMetrics(runtime)
        self.typing = TypingTicker(TYPING_AFTER / 2)
        self.draining = False
        self.in_flight = 0
        self._idle: asyncio.Event | None = None
        self._inbox: LoopInbox | None = None
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()
        self._snapshots = asyncio.Semaphore(MAX_SNAPSHOTS)
        self._connections: set[_Flushable] = set()

    def inbox(self) -> LoopInbox:
        """The running loop's :class:`LoopInbox` (made on first use, on the loop)."""
        loop = asyncio.get_running_loop()
        if self._inbox is None or self._inbox.loop is not loop:
            self._inbox = LoopInbox(loop)
        return self._inbox

    def limiter(self) -> RateLimiter:
        """A new rate limiter with the gateway's rate."""
        return RateLimiter(self.settings.rate, self.settings.burst)

    def byte_limiter(self) -> RateLimiter:
        """A new limiter of the bytes a connection may send per second."""
        settings = self.settings
        return RateLimiter(settings.byte_rate, 2 * settings.max_frame_bytes)

    def limiter_for(self, key: str, make: Callable[[], RateLimiter] | None = None) -> RateLimiter:
        """The shared rate limiter of ``key`` (a session's HTTP calls, ``address:IP`` for new
        sessions from one client address), made by ``make`` (default: the message rate); the
        most recently used 100k are kept."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = (make or self.limiter)()
            if len(self._limiters) > self._MAX_LIMITERS:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key)
        return limiter

    def allow_new_session(self, address: str | None) -> float:
        """Take a token for a new session from ``address``: 0.0, or the seconds to wait."""
        settings = self.settings
        return self.limiter_for(
            f"address:{address or 'unknown'}",
            lambda: RateLimiter(settings.session_rate, settings.session_burst),
        ).take()

    async def snapshot(self, session_id: str) -> SessionSnapshot | None:
        """``Runtime.snapshot`` off the loop, at most :data:`MAX_SNAPSHOTS` at a time.

        A snapshot waits for the session's queued events (or loads it from the store), so it
        runs on a thread; the bound keeps a flood of history requests from taking every
        thread of the loop's executor from everyone else's resumes.
        """
        async with self._snapshots:
            return await asyncio.to_thread(self.runtime.snapshot, session_id)

    # -- connections ------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        """WebSocket connections open now."""
        return len(self._connections)

    def opened(self, connection: _Flushable) -> None:
        """Count an open connection (for :meth:`flush`)."""
        self._connections.add(connection)

    def closed(self, connection: _Flushable) -> None:
        """Forget a closed connection."""
        self._connections.discard(connection)

    async def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every open connection has written its queued frames.

        Returns:
            Whether they all did.
        """
        waits = [connection.flush() for connection in list(self._connections)]
        if not waits:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    # -- turns in flight --------------------------------------------------------------------

    def turn_started(self) -> None:
        """Count a turn accepted from this gateway."""
        self.in_flight += 1

    def turn_ended(self) -> None:
        """Count a turn settled (committed or failed)."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new events from now on and wait up to ``timeout`` s for the accepted ones.

        Returns:
            Whether every accepted turn settled in time.
        """
        self.draining = True
        if self.in_flight == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
