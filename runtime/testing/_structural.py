"""Compare session values by structure, not identity: what ``check-isolation`` compares.

Each run of an isolation check loads a fresh copy of the bot's module, so a frozen dataclass or
an Enum member stored in session data is an instance of a *different class object* in the solo
run and in the together run: ``==`` says they differ although both print the same. Values are
compared here through :func:`structural`, which turns them into plain data: dataclasses,
named tuples and objects with a ``__dict__`` by class qualified name and fields, enum members
by class qualified name and member name, sets as sets, mappings and sequences element by
element; objects with ``__slots__`` by their slots; instances of classes defined in the bot's
own module copies by their fields even when the class defines ``__eq__`` (which would see the
other copy's class as foreign). Anything else with an ``__eq__`` of its own is compared as itself
(strings, numbers, bytes, dates...). What has no fields and compares by identity (``object()``,
a lock) cannot be compared across runs: it is *not comparable*, equal to any value of its class,
and each such place is noted (:func:`not_comparable`) so that the report says so instead of
reporting a divergence.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections.abc import Mapping
from typing import Any

__all__ = ["Converted", "not_comparable", "structural"]

_BOT_COPY_PREFIX = "_runtime_bot_"
"""How the loader names a bot file's module copies (``runtime._loader``)."""

_PLAIN = (str, int, float, complex, bytes, bool, type(None))


def _qualname(value: object) -> str:
    cls = type(value)
    return f"{cls.__qualname__}"


def structural(value: Any) -> Any:
    """Return a plain-data stand-in for ``value`` that compares equal across module copies.

    Two values that print the same because they are the same class's instances with the same
    fields (one per copy of the module) give equal stand-ins; values of different classes,
    fields or members do not. Cycles are followed once (a value met again on its own path
    becomes a reference to that place), and a value shared by many places is converted once.
    """
    return _Converter().convert(value)


class Converted:
    """A value already converted where its classes live (a fresh process): its stand-in, its
    ``repr`` for reports, and what in it is not comparable. :func:`structural` of it is its
    stand-in."""

    __slots__ = ("hints", "stand_in", "text")

    def __init__(self, value: Any) -> None:
        converter = _Converter()
        self.stand_in = converter.convert(value)
        self.text = repr(value)
        self.hints = tuple(converter.opaque)

    def __repr__(self) -> str:
        return self.text


def not_comparable(value: Any) -> list[str]:
    """Return what in ``value`` cannot be compared across runs (empty when everything can)."""
    if isinstance(value, Converted):
        return list(value.hints)
    converter = _Converter()
    converter.convert(value)
    return converter.opaque


class _Converter:
    """One conversion: the path being converted (for cycles) and what is done (for sharing)."""

    def __init__(self) -> None:
        self._path: dict[int, int] = {}  # id -> its depth on the current path
        self._done: dict[int, Any] = {}  # id -> its stand-in (the objects are alive meanwhile)
        self.opaque: list[str] = []

    def convert(self, value: Any) -> Any:
        if isinstance(value, _PLAIN) and not isinstance(value, enum.Enum):
            if isinstance(value, float) and math.isnan(value):  # NaN equals NaN here
                return ("nan",)
            return value
        if isinstance(value, enum.Enum):
            return ("enum", _qualname(value), value.name)
        if isinstance(value, Converted):
            return value.stand_in
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType | type):
            return ("named", type(value).__name__, getattr(value, "__qualname__", repr(value)))
        key = id(value)
        if key in self._path:  # a cycle: refer to where on the path it started
            return ("cycle", len(self._path) - self._path[key])
        if key in self._done:
            return self._done[key]
        self._path[key] = len(self._path)
        try:
            stand_in = self._container(value)
        finally:
            del self._path[key]
        self._done[key] = stand_in
        return stand_in

    def _mapping(self, value: Mapping[Any, Any]) -> Any:
        convert = self.convert
        items = [(_Hashable(convert(k)), _Hashable(convert(v))) for k, v in value.items()]
        return ("mapping", len(items), frozenset(items))

    def _container(self, value: Any) -> Any:
        convert = self.convert
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = tuple(
                (f.name, convert(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.compare  # as == does: field(compare=False) is left out
            )
            return ("dataclass", _qualname(value), fields)
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
            return ("namedtuple", _qualname(value), tuple(convert(v) for v in value))
        if isinstance(value, Mapping):
            return self._mapping(value)
        if isinstance(value, set | frozenset):
            members = [_Hashable(convert(v)) for v in value]
            return ("set", len(members), frozenset(members))
        if isinstance(value, list | tuple):
            return (type(value).__name__, tuple(convert(v) for v in value))
        cls = type(value)
        by_identity = _compares_by_identity(cls)
        if not by_identity and not cls.__module__.startswith(_BOT_COPY_PREFIX):
            return value  # its own equality (dates, decimals, UUIDs, Files, a helper's __eq__)
        attributes = _fields(value)
        if attributes is not None:
            # Not convert(): the fields dict is a temporary, whose id a later one may reuse.
            return ("object", _qualname(value), self._mapping(attributes))
        if not by_identity:
            return value
        self.opaque.append(f"{cls.__qualname__} value (it compares by identity, has no fields)")
        return ("not comparable", _qualname(value))


def _fields(value: object) -> dict[str, Any] | None:
    """An object's fields: its ``__dict__`` and ``__slots__`` (None: it has neither)."""
    attributes = getattr(value, "__dict__", None)
    fields: dict[str, Any] = dict(attributes) if isinstance(attributes, dict) else {}
    has_slots = False
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            has_slots = True
            if hasattr(value, name):
                fields[name] = getattr(value, name)
    return fields if isinstance(attributes, dict) or has_slots else None


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
