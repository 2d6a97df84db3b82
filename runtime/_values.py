"""Copying session values: the one place that decides what a session may hold.

A session's whole state must be one copyable (and, with a durable store, encodable) snapshot:
the commit point copies the data of every turn so a failed turn can return to it exactly, and
``snapshot()`` hands out copies that share nothing with the live session.
"""

from __future__ import annotations

import copy
from typing import Any

from runtime.errors import SessionValueError

__all__ = ["ATOMIC", "copy_values"]

# Values of these types are immutable and hold nothing mutable: copying a dict of them is a
# plain dict copy. Anything else (lists, dicts, dataclasses...) takes copy.deepcopy, which
# keeps aliasing between values exact.
ATOMIC = frozenset({str, int, float, bool, type(None), bytes, complex})


def copy_values(values: dict[str, Any]) -> dict[str, Any]:
    """Return a deep copy of a session's data dict, sharing nothing mutable with it.

    Raises:
        SessionValueError: a value cannot be copied; the message names its key and type.
    """
    for value in values.values():
        if type(value) not in ATOMIC:
            break
    else:
        return values.copy()
    try:
        return copy.deepcopy(values)
    except Exception as exc:
        for key, value in values.items():
            try:
                copy.deepcopy(value)
            except Exception:
                raise SessionValueError(key, value) from exc
        raise SessionValueError("?", values) from exc
