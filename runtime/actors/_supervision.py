"""Supervision policy: how long a crashing session waits, and what a crashed turn fails with.

A turn *crashes* when a ``BaseException`` escapes it (``SystemExit`` from a body, a bug of
ours). The session actor rolls it back and replaces itself; these functions decide the delay
before the replacement runs and the error a crashed or quarantined event's future gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.errors import PoisonEventError, SessionCrashedError

if TYPE_CHECKING:
    from runtime.actors._requests import TurnRequest

__all__ = ["MAX_RESTART_DELAY", "crash_error", "restart_delay"]

MAX_RESTART_DELAY = 1.0  # seconds: a session that keeps crashing retries at least this often


def restart_delay(crashes: int, backoff: float, cap: float = MAX_RESTART_DELAY) -> float:
    """Seconds to wait before replacing an actor after its session's ``crashes``-th crash.

    ``crashes`` counts the crashes since the session last committed a turn. None after the
    first (a one-off crash costs no delay); then ``backoff``, doubling per crash, at most
    ``cap``.
    """
    if crashes <= 1 or backoff <= 0:
        return 0.0
    return min(cap, backoff * 2.0 ** min(crashes - 2, 32))


def crash_error(
    session_id: str, request: TurnRequest, cause: BaseException | None, *, poisoned: bool
) -> SessionCrashedError:
    """Return the error a crashed (or, if ``poisoned``, quarantined) event's future fails with."""
    name = "an exception" if cause is None else type(cause).__name__
    what = f"session {session_id!r}: {name} raised while handling a {request.kind.value} event"
    error: SessionCrashedError
    if poisoned:
        error = PoisonEventError(
            f"{what}, on each of its {request.attempts} attempts; the event is quarantined "
            "(every attempt was rolled back) and the session's later events go on",
            request.attempts,
        )
    else:
        error = SessionCrashedError(f"{what}; the turn was rolled back")
    error.__cause__ = cause
    return error
