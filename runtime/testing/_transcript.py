"""Transcripts: what one user saw, step by step, and the session data they ended with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.errors import SessionCrashedError

__all__ = ["StepResult", "Transcript", "describe_crash", "describe_failure"]


@dataclass(frozen=True)
class StepResult:
    """What one step of a script produced.

    Attributes:
        replies: the replies to the step.
        error: why the step produced no replies at all (its event failed), else None.
        body_errors: exceptions raised by bodies and event functions during the step; None
            when unknown (under load the runtime only counts them in total).
    """

    replies: tuple[str, ...]
    error: str | None = None
    body_errors: int | None = None


@dataclass
class Transcript:
    """One user's conversation: a result per step, then the session's final data."""

    user: str
    steps: list[StepResult] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def describe_failure(exc: BaseException) -> str:
    """Name a failed event the same way whether it failed in the runtime or in a simulation."""
    if isinstance(exc, SessionCrashedError) and exc.__cause__ is not None:
        return describe_crash(exc.__cause__)
    return f"{type(exc).__name__}: {exc}"


def describe_crash(cause: BaseException) -> str:
    """Name an event whose turn raised ``cause`` past the bot's error handling."""
    return f"session crashed: {type(cause).__name__}"
