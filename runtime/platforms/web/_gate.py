"""What every endpoint of one gateway shares: the runtime, limits, tokens, metrics, draining.

The gate also counts turns in flight from this gateway, so a shutdown can stop taking new
events and wait for the accepted ones (``drain``) before the connections close. All of it is
used on the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from runtime.errors import (
    OverloadedError,
    RuntimeStoppedError,
    SessionValueError,
    StoreUnavailableError,
    TurnTimeoutError,
)
from runtime.platforms.web._metrics import GatewayMetrics
from runtime.platforms.web._settings import WebSettings
from runtime.platforms.web._tokens import SessionTokens
from runtime.runtime import Runtime

__all__ = ["Gate", "RateLimiter", "error_code"]


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

    def take(self) -> float:
        """Take one token: 0.0 if there was one, else the seconds until there is."""
        now = time.monotonic()
        tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self._rate


class Gate:
    """The shared state of one gateway (see module doc).

    Args:
        runtime: the started runtime to serve.
        settings: the limits.
    """

    _MAX_HTTP_LIMITERS = 100_000

    def __init__(self, runtime: Runtime, settings: WebSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.tokens = SessionTokens(settings.secret)
        self.metrics = GatewayMetrics(runtime)
        self.draining = False
        self.in_flight = 0
        self._idle: asyncio.Event | None = None
        self._http_limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    def limiter(self) -> RateLimiter:
        """A new rate limiter with the gateway's rate."""
        return RateLimiter(self.settings.rate, self.settings.burst)

    def http_limiter(self, session_id: str) -> RateLimiter:
        """The rate limiter of a session's HTTP requests (the most recent 100k are kept)."""
        limiter = self._http_limiters.get(session_id)
        if limiter is None:
            limiter = self._http_limiters[session_id] = self.limiter()
            if len(self._http_limiters) > self._MAX_HTTP_LIMITERS:
                self._http_limiters.popitem(last=False)
        else:
            self._http_limiters.move_to_end(session_id)
        return limiter

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
