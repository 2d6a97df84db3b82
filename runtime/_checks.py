"""Argument checks shared by the public entry points: one wording for one mistake."""

from __future__ import annotations

import math
import threading

from runtime.event import check_id

__all__ = ["check_message_id", "check_positive_int", "check_seconds", "optional_bound"]


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float seconds if it is a finite number > 0 (or >= 0), else raise.

    NaN and infinity are refused: a NaN deadline never passes and an infinite one never comes;
    so are values beyond what the platform's waits accept (``threading.TIMEOUT_MAX``).

    Raises:
        ValueError: it is not a finite positive number (the message names ``name``).
    """
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        what = "a finite number of seconds >= 0" if allow_zero else "a positive number of seconds"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if value > threading.TIMEOUT_MAX:
        raise ValueError(
            f"{name} must be at most {threading.TIMEOUT_MAX:.0f} seconds (threading.TIMEOUT_MAX), "
            f"got {value!r}"
        )
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool), else raise ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def optional_bound(name: str, value: object, minimum: int = 1) -> int | None:
    """Return ``value`` if it is None or an int >= ``minimum``, else raise ValueError."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what} or None, got {value!r}")
    return value


def check_message_id(message_id: object) -> None:
    """Raise TypeError or ValueError unless ``message_id`` is a valid message id."""
    if not isinstance(message_id, str) or not message_id:
        raise TypeError(f"message_id must be a non-empty str or None, got {message_id!r}")
    check_id("message_id", message_id)
