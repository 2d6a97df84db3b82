"""Compare session values by structure, not identity: what ``check-isolation`` compares.

Each run of an isolation check loads a fresh copy of the bot's module, so a frozen dataclass or
an Enum member stored in session data is an instance of a *different class object* in the solo
run and in the together run: ``==`` says they differ although both print the same. Values are
compared here through :func:`structural`, which turns them into plain data: dataclasses,
named tuples and objects with a ``__dict__`` by class qualified name and fields, enum members
by class qualified name and member name, sets as sets, mappings and sequences element by
element. Anything else is compared as itself (strings, numbers, bytes, dates...).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["structural"]

_PLAIN = (str, int, float, complex, bytes, bool, type(None))


def _qualname(value: object) -> str:
    cls = type(value)
    return f"{cls.__qualname__}"


def structural(value: Any, _depth: int = 0) -> Any:
    """Return a plain-data stand-in for ``value`` that compares equal across module copies.

    Two values that print the same because they are the same class's instances with the same
    fields (one per copy of the module) give equal stand-ins; values of different classes,
    fields or members do not.
    """
    if isinstance(value, _PLAIN) and not isinstance(value, enum.Enum):
        if isinstance(value, float) and math.isnan(value):  # NaN equals NaN here
            return ("nan",)
        return value
    if _depth > 100:  # a cycle or an absurd depth: compare what is left by its text
        return ("repr", repr(value))
    depth = _depth + 1
    if isinstance(value, enum.Enum):
        return ("enum", _qualname(value), value.name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple(
            (f.name, structural(getattr(value, f.name), depth)) for f in dataclasses.fields(value)
        )
        return ("dataclass", _qualname(value), fields)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return ("namedtuple", _qualname(value), tuple(structural(v, depth) for v in value))
    if isinstance(value, Mapping):
        return (
            "mapping",
            frozenset(
                (structural(k, depth), _Hashable(structural(v, depth))) for k, v in value.items()
            ),
        )
    if isinstance(value, set | frozenset):
        return ("set", frozenset(_Hashable(structural(v, depth)) for v in value))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(structural(v, depth) for v in value))
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and _compares_by_identity(type(value)):
        return ("object", _qualname(value), structural(attributes, depth))
    return value  # its own equality (dates, decimals, UUIDs, Files, user __eq__)


def _compares_by_identity(cls: type) -> bool:
    """Whether instances of ``cls`` use object's ``==`` (identity): then compare fields."""
    equality: object = cls.__eq__
    return equality is object.__eq__


class _Hashable:
    """Wraps a stand-in so it can sit in a frozenset even when it holds an unhashable value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hashable) and self.value == other.value

    def __hash__(self) -> int:
        try:
            return hash(self.value)
        except TypeError:
            return 0  # unhashable: equal ones still meet, in one bucket
