"""The json codec's values: which session values JSON can keep exactly, and how.

JSON has str, numbers, true/false/null, arrays and objects. Every other value the codec
accepts is written as a small tagged object, ``{"$t": <tag>, "v": <payload>, ...}``, and a dict
that holds the key ``"$t"`` itself is written as a tagged list of pairs, so user data can never
be read back as a tag. Decoding happens in ``json.loads``' ``object_hook``: innermost objects
first, so a tag's payload arrives already decoded.

Values are checked by exact type: a subclass of ``dict`` or ``str`` would come back as the base
type, so it is refused, as are cycles. Aliasing is not kept: a list held twice comes back as two
equal lists. Dataclasses keep their fields only (``__init__`` and ``__post_init__`` do not run
on decode, so attributes that are not fields are not kept).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import sys
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import Decimal
from math import isfinite
from typing import Any

from runtime.bot._file import File
from runtime.errors import SessionValueError

__all__ = [
    "PLAIN",
    "TAG",
    "Classes",
    "Corrupt",
    "Decoder",
    "class_name",
    "encode_values",
    "find_class",
]

TAG = "$t"
#: Types JSON spells exactly (floats and ints only while finite and short enough: see strict).
PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# The strict pass (after json.dumps refused nan/inf or a huge int) looks at every number.
_STRICT_PLAIN: frozenset[type] = frozenset({str, bool, type(None)})
# Python refuses to turn ints of more than 4300 digits into text (sys.int_info); past about
# 3900 digits an int is written in hex, which has no limit.
_BIG_INT_BITS = 13_000
_MICROSECOND = dt.timedelta(microseconds=1)
_MISSING = object()
_ACCEPTS = (
    "the json codec stores str, int, float, bool, None, list, dict, tuple, set, frozenset, "
    "bytes, datetime, date, time, timedelta, timezone, ZoneInfo, Decimal, UUID, File, and the "
    "dataclasses and enums defined in the bot's modules or passed in JsonCodec(types=...); "
    "PickleCodec stores any picklable value, as an explicit opt-in"
)


class Corrupt(Exception):
    """A stored value cannot be decoded (converted to ``StoreCorruptError`` by the codec)."""


class _Refused(Exception):
    """A value the codec cannot store; ``path`` grows (innermost first) as the walk unwinds."""

    def __init__(self, value: object, why: str) -> None:
        self.value = value
        self.why = why
        self.child = value  # the value at the level the exception is passing through
        self.path: list[str] = []
        self.key = "?"  # the key of the outermost dict it passed through

    def at(self, segment: str, container: object) -> None:
        self.path.append(segment)
        self.child = container


BOT_MODULE = "@bot"  # stands for the bot's own modules in stored class names


def find_class(name: str) -> type | None:
    """Return the class called ``module:qualname`` among the loaded modules, or None."""
    module, _, qualname = name.partition(":")
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def class_name(cls: type) -> str:
    """Return how a class is stored: ``module:qualname``."""
    return f"{cls.__module__}:{cls.__qualname__}"


class Classes:
    """The dataclasses and enums a codec accepts: the explicit ones and the bot modules' own.

    A class is accepted only if it can be found again by name (it is defined at module level).
    Lookups are cached; the caches only grow, and a race only computes an entry twice.
    """

    def __init__(self, explicit: frozenset[type], modules: frozenset[str]) -> None:
        self._explicit = explicit
        self._modules = modules
        self._names: dict[type, str | None] = {}
        self._by_name: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}

    def name_of(self, cls: type) -> str | None:
        """Return the stored name of ``cls``, or None if the codec does not accept it."""
        try:
            return self._names[cls]
        except KeyError:
            pass
        name: str | None = class_name(cls)
        accepted = (
            (issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls))
            and (cls in self._explicit or cls.__module__ in self._modules)
            and find_class(class_name(cls)) is cls
        )
        if not accepted:
            name = None
        elif cls not in self._explicit:
            # The bot's own classes are stored as "@bot:Qualname": a bot file loaded by path
            # gets a module name that depends on load order; the stored name must not.
            name = f"{BOT_MODULE}:{cls.__qualname__}"
        self._names[cls] = name
        return name

    def why_refused(self, cls: type) -> str:
        """Say why values of ``cls`` are refused."""
        if not (issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls)):
            bases: tuple[type, ...] = (*PLAIN, *_ENCODERS)
            for base in bases:
                if issubclass(cls, base):
                    return f"a subclass of {base.__name__} would come back as a {base.__name__}"
            return "the json codec cannot store it"
        if cls not in self._explicit and cls.__module__ not in self._modules:
            return (
                f"its class {cls.__module__}.{cls.__qualname__} is neither defined in the "
                "bot's modules nor passed in JsonCodec(types=...)"
            )
        return f"its class {cls.__qualname__} cannot be found by name (define it at module level)"

    def fields_of(self, cls: type) -> tuple[str, ...]:
        """Return the names of a dataclass's fields."""
        names = self._fields.get(cls)
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(cls))
            self._fields[cls] = names
        return names

    def _find(self, name: str) -> type | None:
        module, _, qualname = name.partition(":")
        if module != BOT_MODULE:
            return find_class(name)
        for candidate in sorted(self._modules):
            found = find_class(f"{candidate}:{qualname}")
            if found is not None:
                return found
        return None

    def lookup(self, name: object, enum_wanted: bool) -> Any:
        """Return the accepted class stored as ``name``.

        Raises:
            Corrupt: there is no such class, it is not accepted, or it is of the wrong kind.
        """
        cls = self._by_name.get(name) if type(name) is str else None
        if cls is None:
            if type(name) is not str:
                raise Corrupt(f"a stored class name is {name!r}, not a 'module:qualname' str")
            found = self._find(name)
            if found is None and name.startswith(f"{BOT_MODULE}:"):
                raise Corrupt(
                    f"class {name.partition(':')[2]} of the bot's own modules is not found: "
                    "the codec serves no bot, or the bot no longer defines it"
                )
            if found is None:
                raise Corrupt(f"class {name} is not loaded or no longer exists")
            if self.name_of(found) != name:
                raise Corrupt(f"class {name} is not a dataclass or enum the codec accepts")
            cls = self._by_name[name] = found
        if issubclass(cls, enum.Enum) != enum_wanted:
            raise Corrupt(f"class {name} is not {'an enum' if enum_wanted else 'a dataclass'}")
        return cls


# -- encoding -------------------------------------------------------------------------------


def encode_values(
    classes: Classes, values: dict[Any, Any], *, strict: bool, root: str, key: str | None
) -> Any:
    """Return a JSON-ready form of a dict of values (``values`` itself when it is one).

    ``strict`` also rewrites the numbers JSON cannot spell (nan, infinities, huge ints). A
    refusal names ``key`` (None: the dict's own key holding the bad value) and a path from
    ``root``, e.g. ``data['cart'][2].price``.

    Raises:
        SessionValueError: a value cannot be stored.
    """
    if not strict and TAG not in values:
        for k, v in values.items():
            if type(k) is not str or type(v) not in PLAIN:
                break
        else:
            return values
    try:
        return _Encoder(classes, strict).value(values)
    except _Refused as exc:
        where = root + "".join(reversed(exc.path))
        blamed = exc.key if key is None else key
        reason = (
            f"session value {blamed!r} cannot be stored: {where} is a "
            f"{type(exc.value).__name__} and {exc.why}; {_ACCEPTS}"
        )
        raise SessionValueError(blamed, exc.value, reason=reason) from None
    except RecursionError as exc:
        blamed, value = key or "?", values
        for k, v in values.items():  # find the culprit: only on this rare path
            try:
                _Encoder(classes, strict).value(v)
            except RecursionError:
                blamed, value = (k if key is None else key), v
                break
        reason = f"session value {blamed!r} is nested too deeply to be stored; {_ACCEPTS}"
        raise SessionValueError(str(blamed), value, reason=reason) from exc


class _Encoder:
    """One walk over values (its cycle check is not shared between threads)."""

    __slots__ = ("_active", "_classes", "_plain")

    def __init__(self, classes: Classes, strict: bool) -> None:
        self._classes = classes
        self._plain = _STRICT_PLAIN if strict else PLAIN
        self._active: set[int] = set()

    def value(self, value: Any) -> Any:
        cls = type(value)
        if cls in self._plain:
            return value
        encode = _ENCODERS.get(cls)
        if encode is not None:
            return encode(self, value)
        name = self._classes.name_of(cls)
        if name is None:
            raise _Refused(value, self._classes.why_refused(cls))
        if isinstance(value, enum.Flag):
            return {TAG: "flag", "c": name, "v": self.value(value.value)}
        if isinstance(value, enum.Enum):
            return {TAG: "enum", "c": name, "v": value.name}
        return {TAG: "dc", "c": name, "v": self._fields(value)}

    def _enter(self, container: object) -> None:
        if id(container) in self._active:
            raise _Refused(container, "it contains itself (a cyclic reference)")
        self._active.add(id(container))

    def _items(self, items: Iterable[Any], segment: str | None = None) -> list[Any]:
        plain = self._plain
        try:
            return [x if type(x) in plain else self.value(x) for x in items]
        except _Refused as exc:
            # Only on the error path: find which item failed (the first one that is it).
            index = next(i for i, x in enumerate(items) if x is exc.child)
            exc.at(f"[{index}]" if segment is None else segment, items)
            raise

    def _list(self, items: list[Any]) -> list[Any]:
        self._enter(items)
        out = self._items(items)
        self._active.discard(id(items))
        return out

    def _dict(self, mapping: dict[Any, Any]) -> Any:
        self._enter(mapping)
        plain = self._plain
        out: dict[str, Any] | None = {} if TAG not in mapping else None
        try:
            for k, v in mapping.items():
                if out is None or type(k) is not str:
                    out = None
                    break
                out[k] = v if type(v) in plain else self.value(v)
            if out is None:  # non-str keys, or the tag key itself: a list of pairs
                out = {
                    TAG: "map",
                    "v": [[self.value(k), self.value(v)] for k, v in mapping.items()],
                }
        except _Refused as exc:
            for index, (k, v) in enumerate(mapping.items()):
                if v is exc.child or k is exc.child:
                    exc.key = k if type(k) is str else _show(k)
                    exc.at(f"[{_show(k)}]" if v is exc.child else f".keys()[{index}]", mapping)
                    break
            raise
        self._active.discard(id(mapping))
        return out

    def _fields(self, obj: Any) -> dict[str, Any]:
        self._enter(obj)
        plain = self._plain
        out = {}
        for name in self._classes.fields_of(type(obj)):
            v = getattr(obj, name, _MISSING)
            if v is _MISSING:
                continue  # a field never set (init=False): it stays unset
            try:
                out[name] = v if type(v) in plain else self.value(v)
            except _Refused as exc:
                exc.at(f".{name}", obj)
                raise
        self._active.discard(id(obj))
        return out

    def _tz(self, out: dict[str, Any], value: dt.datetime | dt.time) -> dict[str, Any]:
        if value.tzinfo is not None:
            try:
                out["tz"] = self.value(value.tzinfo)
            except _Refused as exc:
                exc.at(".tzinfo", value)
                raise
        if value.fold:
            out["fold"] = 1
        return out


def _show(key: object) -> str:
    return repr(key) if type(key) in PLAIN else f"<{type(key).__name__} key>"


def _zoneinfo(_: _Encoder, zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    if zone.key is None:
        raise _Refused(zone, "it was loaded from a file, so it has no key to store")
    return {TAG: "zoneinfo", "v": zone.key}


def _timezone(_: _Encoder, zone: dt.timezone) -> dict[str, Any]:
    offset = zone.utcoffset(None)
    out: dict[str, Any] = {TAG: "timezone", "v": offset // _MICROSECOND}
    name = zone.tzname(None)
    if name != dt.timezone(offset).tzname(None):
        out["name"] = name
    return out


_ENCODERS: dict[type, Callable[[_Encoder, Any], Any]] = {
    list: _Encoder._list,
    dict: _Encoder._dict,
    tuple: lambda e, v: {TAG: "tuple", "v": e._items(v)},
    set: lambda e, v: {TAG: "set", "v": e._items(v, "{...}")},
    frozenset: lambda e, v: {TAG: "frozenset", "v": e._items(v, "{...}")},
    # Reached in strict passes only (else int and float are plain).
    int: lambda e, v: {TAG: "int", "v": hex(v)} if v.bit_length() > _BIG_INT_BITS else v,
    float: lambda e, v: v if isfinite(v) else {TAG: "float", "v": repr(v)},
    bytes: lambda e, v: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    dt.datetime: lambda e, v: e._tz(
        {TAG: "datetime", "v": v.replace(tzinfo=None, fold=0).isoformat()}, v
    ),
    dt.date: lambda e, v: {TAG: "date", "v": v.isoformat()},
    dt.time: lambda e, v: e._tz({TAG: "time", "v": v.replace(tzinfo=None, fold=0).isoformat()}, v),
    dt.timedelta: lambda e, v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    dt.timezone: _timezone,
    zoneinfo.ZoneInfo: _zoneinfo,
    Decimal: lambda e, v: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda e, v: {TAG: "uuid", "v": str(v)},
    File: lambda e, v: {TAG: "file", "v": [v.name, v.type, v.base64]},
}


# -- decoding -------------------------------------------------------------------------------


class Decoder:
    """Turn tagged JSON objects back into values (``hook`` is ``json.loads``' object_hook)."""

    __slots__ = ("classes",)

    def __init__(self, classes: Classes) -> None:
        self.classes = classes

    def hook(self, obj: dict[str, Any]) -> Any:
        """Return ``obj``, or the value it is the tagged form of.

        Raises:
            Corrupt: an unknown tag, or a payload that does not fit its tag.
        """
        if TAG not in obj:
            return obj
        tag = obj[TAG]
        decode = _DECODERS.get(tag) if type(tag) is str else None
        if decode is None:
            raise Corrupt(f"unknown value tag {tag!r}")
        if "v" not in obj:
            raise Corrupt(f"a {tag!r} value has no payload")
        return decode(self, obj["v"], obj)


def _list_of(payload: object, length: int | None = None) -> list[Any]:
    if type(payload) is not list or (length is not None and len(payload) != length):
        raise Corrupt(f"a tagged value holds {type(payload).__name__}, not the expected list")
    return payload


def _str(payload: object) -> str:
    if type(payload) is not str:
        raise Corrupt(f"a tagged value holds {type(payload).__name__}, not the expected str")
    return payload


def _with_tz(value: Any, tagged: dict[str, Any]) -> Any:
    return value.replace(tzinfo=tagged.get("tz"), fold=tagged.get("fold", 0))


def _timezone_of(microseconds: object, name: object) -> dt.timezone:
    if type(microseconds) is not int:
        raise Corrupt(f"a timezone offset is {type(microseconds).__name__}, not an int")
    offset = dt.timedelta(microseconds=microseconds)
    return dt.timezone(offset) if name is None else dt.timezone(offset, _str(name))


def _file_of(name: object, mime_type: object, content: object) -> File:
    return File(file_name=_str(name), file_type=_str(mime_type), file_base64=_str(content))


def _dataclass(decoder: Decoder, payload: Any, tagged: dict[str, Any]) -> Any:
    cls = decoder.classes.lookup(tagged.get("c"), enum_wanted=False)
    if type(payload) is not dict:
        raise Corrupt(f"the fields of a {cls.__qualname__} are not an object")
    names = decoder.classes.fields_of(cls)
    obj = cls.__new__(cls)
    for name, value in payload.items():
        if name not in names:
            raise Corrupt(f"{cls.__qualname__} has no field {name!r} any more")
        # object.__setattr__ works for frozen and slots dataclasses; __init__ must not run.
        object.__setattr__(obj, name, value)
    if len(payload) < len(names):  # fields added since the record was written get defaults
        for field in dataclasses.fields(cls):
            if field.name not in payload and field.default is not dataclasses.MISSING:
                object.__setattr__(obj, field.name, field.default)
            elif field.name not in payload and field.default_factory is not dataclasses.MISSING:
                object.__setattr__(obj, field.name, field.default_factory())
    return obj


_DECODERS: dict[str, Callable[[Decoder, Any, dict[str, Any]], Any]] = {
    "tuple": lambda d, v, t: tuple(_list_of(v)),
    "set": lambda d, v, t: set(_list_of(v)),
    "frozenset": lambda d, v, t: frozenset(_list_of(v)),
    "map": lambda d, v, t: dict(_list_of(pair, 2) for pair in _list_of(v)),
    "int": lambda d, v, t: int(_str(v), 16),
    "float": lambda d, v, t: float(_str(v)),
    "bytes": lambda d, v, t: base64.b64decode(_str(v), validate=True),
    "datetime": lambda d, v, t: _with_tz(dt.datetime.fromisoformat(_str(v)), t),
    "date": lambda d, v, t: dt.date.fromisoformat(_str(v)),
    "time": lambda d, v, t: _with_tz(dt.time.fromisoformat(_str(v)), t),
    "timedelta": lambda d, v, t: dt.timedelta(*_list_of(v, 3)),
    "timezone": lambda d, v, t: _timezone_of(v, t.get("name")),
    "zoneinfo": lambda d, v, t: zoneinfo.ZoneInfo(_str(v)),
    "decimal": lambda d, v, t: Decimal(_str(v)),
    "uuid": lambda d, v, t: uuid.UUID(_str(v)),
    "file": lambda d, v, t: _file_of(*_list_of(v, 3)),
    "dc": _dataclass,
    "enum": lambda d, v, t: d.classes.lookup(t.get("c"), enum_wanted=True)[_str(v)],
    "flag": lambda d, v, t: d.classes.lookup(t.get("c"), enum_wanted=True)(v),
}
