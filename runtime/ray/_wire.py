"""What travels between the gateway and its shards: batch items, results, errors and the bot.

A batch is a list of items ``(ref, op, session_id, seq, floor, payload)``: ``ref`` names the
item at the gateway, ``op`` says what to do (:data:`EVENT`, :data:`SNAPSHOT`,
:data:`PASSIVATE`, :data:`FORGET`), ``seq`` is the item's number in its session's sequence and
``floor`` says that every item of the session numbered below it is settled at the gateway (see
:mod:`runtime.ray._order`). An event's payload is ``(kind, data, message_id)``
(:data:`KIND_CODES`), not the ``Event``: a named tuple holding an enum costs four Python calls
to pickle and two to unpickle, per event, where plain tuples, ints and strings cost none. A
result is ``(ref, ok, value)``: the replies ``(texts, typed or None)``, a snapshot, a bool, or,
when ``ok`` is false, an error from :func:`encode_error`.

Exceptions cross as plain tuples, not pickles: the runtime's errors take keyword arguments
pickle cannot rebuild, and a bot's own exception classes may not be importable where the reply
is read. :func:`decode_error` rebuilds the runtime's errors and builtins as themselves, and any
other class as a stand-in of the same name (what ``describe_failure`` and logs show).
"""

from __future__ import annotations

import builtins
import io
import pickle
import threading
from collections import ChainMap
from typing import Any, ClassVar

from runtime import errors
from runtime.event import Event, TurnKind

__all__ = [
    "EVENT",
    "FORGET",
    "KINDS",
    "KIND_CODES",
    "PASSIVATE",
    "SNAPSHOT",
    "Item",
    "Result",
    "decode_error",
    "dumps_bot",
    "encode_error",
    "loads_bot",
    "unpack_event",
]

EVENT, SNAPSHOT, PASSIVATE, FORGET = 0, 1, 2, 3

Item = tuple[int, int, str, int, int, Any]  # (ref, op, session_id, seq, floor, payload)
PackedEvent = tuple[int, Any, str | None]  # (index in KINDS, payload, message_id)
Result = tuple[int, bool, Any]  # (ref, ok, value or encoded error)
EncodedError = tuple[str, str, str, dict[str, Any], "EncodedError | None"]

#: An event's kind travels as its index here.
KINDS: tuple[TurnKind, ...] = tuple(TurnKind)
KIND_CODES: dict[TurnKind, int] = {kind: code for code, kind in enumerate(KINDS)}
_new_tuple = tuple.__new__

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())
_PLAIN = (str, int, float, bool, type(None))
_stand_ins: dict[tuple[str, str], type[Exception]] = {}


def unpack_event(session_id: str, packed: PackedEvent) -> Event:
    """Rebuild the ``Event`` of an item's payload (the gateway checked it already)."""
    code, payload, message_id = packed
    # tuple.__new__: the named tuple's own __new__ is a Python call (as Runtime.send_message).
    return _new_tuple(Event, (session_id, KINDS[code], payload, message_id))


def dumps_bot(bot: object) -> bytes:
    """Pickle ``bot`` with its functions and module state (cloudpickle), locks made anew.

    A bot holds locks (its freeze lock, a body's module-level lock): pickle refuses them, so
    each becomes a fresh, unlocked lock of the same kind on the other side.
    """
    from ray import cloudpickle  # noqa: PLC0415  # the optional extra, imported when used

    class _Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
        dispatch_table: ClassVar[ChainMap[Any, Any]] = ChainMap(
            {_LOCK: _fresh_lock, _RLOCK: _fresh_rlock},
            cloudpickle.CloudPickler.dispatch_table,
        )

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(bot)
    return buffer.getvalue()


def _fresh_lock(_: object) -> tuple[Any, tuple[()]]:
    return threading.Lock, ()


def _fresh_rlock(_: object) -> tuple[Any, tuple[()]]:
    return threading.RLock, ()


def loads_bot(blob: bytes) -> Any:
    """Unpickle what :func:`dumps_bot` made."""
    return pickle.loads(blob)  # our own gateway's bytes, over Ray


def encode_error(exc: BaseException) -> EncodedError:
    """Return ``exc`` (and its cause, one level) as plain data :func:`decode_error` rebuilds."""
    cause = exc.__cause__
    try:
        text = str(exc)
    except BaseException:
        text = "(its message could not be read)"
    attrs = {
        key: value
        for key, value in getattr(exc, "__dict__", {}).items()
        if not key.startswith("_") and isinstance(value, _PLAIN)
    }
    kind = type(exc)
    encoded_cause: EncodedError | None = None
    if cause is not None:
        name, module, cause_text, _, _ = encode_error(cause)
        encoded_cause = (name, module, cause_text, {}, None)
    return (kind.__qualname__, kind.__module__, text, attrs, encoded_cause)


def decode_error(encoded: EncodedError) -> BaseException:
    """Rebuild an error :func:`encode_error` made (a stand-in class for unknown ones)."""
    name, module, text, attrs, cause = encoded
    kind = _find_class(name, module)
    exc = kind.__new__(kind)
    Exception.__init__(exc, text)
    for key, value in attrs.items():
        try:
            setattr(exc, key, value)
        except (AttributeError, TypeError):  # a read-only attribute: the message says it all
            continue
    if cause is not None:
        exc.__cause__ = decode_error(cause)
    return exc


def _find_class(name: str, module: str) -> type[BaseException]:
    if module == errors.__name__:
        found = getattr(errors, name, None)
    elif module == "builtins":
        found = getattr(builtins, name, None)
    else:
        found = None
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    key = (module, name)
    stand_in = _stand_ins.get(key)
    if stand_in is None:
        # Only its name matters (describe_failure, logs): the class may not exist here.
        stand_in = type(name.rpartition(".")[2], (Exception,), {"__module__": module})
        stand_in.__qualname__ = name
        _stand_ins[key] = stand_in
    return stand_in
