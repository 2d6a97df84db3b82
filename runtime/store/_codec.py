"""Codecs: a session record (``SessionData``) to bytes and back, for the durable stores.

``JsonCodec`` (the default) stores JSON and accepts a known set of value types, checked when a
body calls ``session.set``; ``PickleCodec`` stores any picklable value, but loading a pickle
runs code, so it is an explicit opt-in. Intents are stored by name and, on decode, become the
bound bot's own ``Intent`` objects again.

Rich replies (``runtime.replies.Reply``) in the chat history and the ``message_id`` memory
keep their kind and content. ``JsonCodec`` writes one where its text would be, as a list
``[kind, text, content]`` with the content as a JSON string, so the values' ``$t`` tags never
meet a body's content; plain text replies are written as before, so records without rich
replies are unchanged (and a record written before rich replies existed reads as it did).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orjson import OPT_PASSTHROUGH_SUBCLASS
from orjson import dumps as _orjson_dumps

from runtime.bot._file import File
from runtime.bot._intent import (
    FALLBACK_INTENT_NAME,
    Intent,
    IntentClassifierPrediction,
    MatchedParameter,
    fallback_intent,
)
from runtime.errors import SessionValueError, StoreCorruptError, describe_exception
from runtime.replies import REPLY_KINDS, Reply
from runtime.session import SessionData
from runtime.store._codec_values import (
    PLAIN,
    Classes,
    Corrupt,
    Decoder,
    class_name,
    encode_values,
    find_class,
)

if TYPE_CHECKING:
    from runtime.bot import Bot

__all__ = ["Codec", "JsonCodec", "PickleCodec"]

_JSON_VERSION = 1
# Built once: json.dumps with options builds an encoder per call (~4 us, measured).
_HEAD_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# A rich reply's content, as JSON text; built once, like _HEAD_ENCODER.
_CONTENT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_PICKLE_FORMAT = "runtime.session/1"
# What a damaged payload can make json.loads, the tag decoders or the checks below raise.
_DECODE_ERRORS = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)


@runtime_checkable
class Codec(Protocol):
    """Turn session records into bytes and back, for a durable store.

    Attributes:
        name: the codec's name (``"json"``, ``"pickle"``), for messages and store metadata.
    """

    name: str

    def bind(self, bot: Bot) -> None:
        """Serve ``bot``: decoded intents (and accepted types) become the bot's own."""
        ...

    def check(self, key: str, value: object) -> None:
        """Refuse a value ``session.set`` is about to store, if this codec cannot store it.

        Raises:
            SessionValueError: ``value`` cannot be stored; the message names ``key``.
        """
        ...

    def encode(self, record: SessionData) -> bytes:
        """Return ``record`` as bytes.

        Raises:
            SessionValueError: a session value cannot be stored; it names the key and type.
        """
        ...

    def decode(self, session_id: str, payload: bytes) -> SessionData:
        """Return the record ``encode`` turned into ``payload``.

        Raises:
            StoreCorruptError: ``payload`` is not a record this codec wrote for ``session_id``.
        """
        ...


def _intent(bot: Bot | None, name: str) -> Intent:
    """Return the intent stored as ``name``: the bot's own, else a stand-in of that name."""
    intent = None if bot is None else bot.get_intent(name)
    if intent is not None:
        return intent
    return fallback_intent if name == FALLBACK_INTENT_NAME else Intent(name)


def _expect(value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if type(value) not in kinds:
        raise Corrupt(f"{what} is a {type(value).__name__}")
    return value


_LIST = (list,)
_STR = (str,)
_OPTIONAL_STR = (str, type(None))
_TEXT_OR_REPLY = (str, list)  # a rich reply is stored as a list (see _reply_form)


def _parameters_form(prediction: IntentClassifierPrediction) -> dict[str, list[Any]]:
    """Return how matched parameters are stored: ``{name: [value, info]}``, in their order."""
    return {p.name: [p.value, p.info] for p in prediction.matched_parameters}


def _parameters(stored: Any) -> list[MatchedParameter]:
    """Return the matched parameters stored as ``{name: [value, info]}``.

    Records written before parameters had ``info`` (a custom classifier's ``{name: value}``)
    read as parameters without info; a value stored then that was itself a two-item list
    ending in a dict would read as a value and its info (no such record is known).
    """
    parameters = []
    for name, pair in _expect(stored, (dict,), "the matched parameters").items():
        if type(pair) in (list, tuple) and len(pair) == 2 and type(pair[1]) is dict:
            parameters.append(MatchedParameter(name, pair[0], pair[1]))
        else:
            parameters.append(MatchedParameter(name, pair, {}))
    return parameters


def _prediction(bot: Bot | None, fields: Any) -> IntentClassifierPrediction:
    name, score, sentence, parameters = fields
    return IntentClassifierPrediction(
        _intent(bot, _expect(name, _STR, "the intent name")),
        score,
        _expect(sentence, _STR, "the matched sentence"),
        _parameters(parameters),
    )


def _file(fields: Any) -> File:
    name, mime_type, content = fields
    return File(file_name=name, file_type=mime_type, file_base64=content)


def _reply_form(reply: Reply) -> list[str]:
    """Return how a rich reply is stored: ``[kind, text, content as JSON text]``.

    Raises:
        SessionValueError: the reply's content is not JSON data (a ``Reply`` made by hand).
    """
    try:
        content = _CONTENT_ENCODER.encode(reply.content)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SessionValueError(
            "chat_history",
            reply.content,
            reason=(
                f"a {reply.kind} reply cannot be stored: its content is not JSON data "
                f"({describe_exception(exc)}); build replies with the session's reply_* methods"
            ),
        ) from exc
    return [reply.kind, str.__str__(reply), content]


def _orjson_default(value: Any) -> Any:
    """Write what ``OPT_PASSTHROUGH_SUBCLASS`` hands back: str subclasses."""
    if type(value) is Reply:
        return _reply_form(value)
    if isinstance(value, str):
        # Another str subclass a body replied: stored as its text, as orjson did by itself.
        return str.__str__(value)
    raise TypeError(f"type {type(value).__name__} is not JSON serializable")


def _stored(text: Any) -> Any:
    """Return ``text`` (a reply, or a history entry's text) in its stored form."""
    return _reply_form(text) if type(text) is Reply else text


def _reply(form: Any, where: str) -> Reply:
    """Return the rich reply stored as ``form`` (see :func:`_reply_form`).

    Raises:
        Corrupt: ``form`` is not a stored reply.
    """
    if type(form) is not list or len(form) != 3 or any(type(item) is not str for item in form):
        raise Corrupt(f"{where} is neither a str nor a [kind, text, content] reply")
    kind, text, content = form
    if kind not in REPLY_KINDS:
        raise Corrupt(f"{where} is a reply of unknown kind {kind!r}")
    try:
        value = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise Corrupt(f"{where} is a {kind} reply whose content is not JSON ({exc})") from exc
    return Reply(kind, text, value)


def _replies(items: list[Any]) -> tuple[str, ...]:
    """Return the stored replies of one ``message_id``.

    Raises:
        Corrupt: an item is neither a str nor a stored rich reply.
    """
    for item in items:
        if type(item) is not str:
            return tuple(
                r if type(r) is str else _reply(r, "a message_id memory reply") for r in items
            )
    return tuple(items)


class JsonCodec:
    """Store records as JSON (UTF-8), accepting only values that come back exactly.

    Accepted session values, nested in any way: str, int, float (nan and infinities too), bool,
    None, list, dict (any encodable keys), tuple, set, frozenset, bytes, ``datetime`` values
    (date, time, datetime, timedelta, timezone, ZoneInfo), Decimal, UUID, :class:`File`, and
    instances of the dataclasses and enums defined in the bot's modules (``bot.code_modules()``)
    or passed in ``types``. Types are checked exactly: a subclass of ``dict`` or ``str`` would
    come back as the base type, so it is refused, and so are cyclic values. Aliasing is not
    kept: a list held in two places comes back as two equal lists. A dataclass comes back with
    its fields set and without running ``__init__`` or ``__post_init__``.

    Strings holding lone surrogates are stored with ``surrogatepass``: the only case in which
    the bytes are not strict UTF-8.

    Args:
        types: more dataclasses and enums to accept, defined at module level anywhere.

    Raises:
        TypeError: an item of ``types`` is not a dataclass or an enum.
        ValueError: an item of ``types`` cannot be found again by its module and name.
    """

    name = "json"

    def __init__(self, types: Iterable[type] = ()) -> None:
        explicit = frozenset(types)
        for cls in explicit:
            if not isinstance(cls, type) or not (
                issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls)
            ):
                raise TypeError(f"JsonCodec(types=...) takes dataclasses and enums, got {cls!r}")
            if find_class(class_name(cls)) is not cls:
                raise ValueError(
                    f"JsonCodec(types=...) got {cls.__qualname__}, which cannot be found again "
                    f"as {cls.__module__}.{cls.__qualname__}: define it at module level"
                )
        self._types = explicit
        self._bot: Bot | None = None
        self._classes = Classes(explicit, frozenset())
        self._decoder = Decoder(self._classes)

    def bind(self, bot: Bot) -> None:
        """Serve ``bot``: accept its modules' dataclasses and enums, decode to its intents."""
        classes = Classes(self._types, bot.code_modules())
        self._classes, self._decoder, self._bot = classes, Decoder(classes), bot

    def check(self, key: str, value: object) -> None:
        """Refuse ``value`` if :meth:`encode` could not store it under ``key``.

        Raises:
            SessionValueError: the value, or a value inside it, cannot be stored; the message
                names the key, the type and where it is (e.g. ``data['cart'][2].price``).
        """
        if type(value) in PLAIN:
            return
        encode_values(self._classes, {key: value}, strict=False, root="data", key=key)

    def encode(self, record: SessionData) -> bytes:
        """Return ``record`` as JSON bytes.

        Raises:
            SessionValueError: a session value cannot be stored (named by key, type and path).
        """
        try:
            return self._dump(record, strict=False)
        except ValueError:
            # json.dumps found a float it cannot spell (nan, inf) or an int too long for text:
            # a second, slower pass writes those as tagged values.
            return self._dump(record, strict=True)

    def _dump(self, record: SessionData, *, strict: bool) -> bytes:
        classes = self._classes
        data = encode_values(classes, record.data, strict=strict, root="data", key=None)
        prediction = record.predicted_intent
        intent = None
        if prediction is not None:
            score = prediction.score
            if strict or type(score) not in PLAIN:
                scores = encode_values(
                    classes,
                    {"score": score},
                    strict=strict,
                    root="predicted_intent",
                    key="predicted_intent",
                )
                score = scores["score"]
            parameters = encode_values(
                classes,
                _parameters_form(prediction),
                strict=strict,
                root="predicted_intent.matched_parameters",
                key="predicted_intent",
            )
            intent = [prediction.intent.name, score, prediction.matched_sentence, parameters]
        file = record.file
        memory = record.replies_by_message_id
        document = {
            "v": _JSON_VERSION,
            "id": record.id,
            "state": record.state,
            "data": data,
            "intent": intent,
            "file": None if file is None else [file.name, file.type, file.base64],
            "message": record.message,
        }
        text = _HEAD_ENCODER.encode(document)
        replies = None if memory is None else list(memory.items())
        if not strict:
            # The history and the message_id memory are most of a record and hold only str
            # and int: orjson writes them ~7x faster than json (measured). It refuses what
            # strict UTF-8 cannot hold (lone surrogates): then everything goes through json.
            # str subclasses (rich replies) come to _orjson_default; orjson writes enums
            # (StrEnum) by value by itself.
            try:
                tail = _orjson_dumps(
                    {"history": record.chat_history, "replies": replies},
                    default=_orjson_default,
                    option=OPT_PASSTHROUGH_SUBCLASS,
                )
            except TypeError:
                pass
            else:
                return text[:-1].encode("utf-8") + b"," + tail[1:]
        # json writes every str subclass as a str, never asking a default: the rich replies
        # are turned into their stored form first (the same as _orjson_default's).
        history = [(_stored(entry), sender) for entry, sender in record.chat_history]
        stored = None if replies is None else [(m, [_stored(r) for r in rs]) for m, rs in replies]
        text = (
            text[:-1]
            + ","
            + json.dumps(
                {"history": history, "replies": stored},
                separators=(",", ":"),
                ensure_ascii=False,
            )[1:]
        )
        return text.encode("utf-8", "surrogatepass")

    def decode(self, session_id: str, payload: bytes) -> SessionData:
        """Return the record in ``payload``; intents become the bound bot's own.

        Raises:
            StoreCorruptError: the payload is not JSON, not this format or version, not
                ``session_id``'s record, or names a class that is no longer accepted.
        """
        try:
            raw = json.loads(
                payload.decode("utf-8", "surrogatepass"), object_hook=self._decoder.hook
            )
            return self._record(session_id, raw)
        except Corrupt as exc:
            raise StoreCorruptError(session_id, str(exc)) from exc
        except (*_DECODE_ERRORS, RecursionError) as exc:
            raise StoreCorruptError(
                session_id, f"not a json codec record ({describe_exception(exc)})"
            ) from exc

    def _record(self, session_id: str, raw: Any) -> SessionData:
        if type(raw) is not dict:
            raise Corrupt(f"the payload is a JSON {type(raw).__name__}, not a json codec record")
        version = raw.get("v")
        if type(version) is not int or version != _JSON_VERSION:
            raise Corrupt(f"format version {version!r}; this codec reads version {_JSON_VERSION}")
        if raw["id"] != session_id:
            raise Corrupt(f"the record is session {raw['id']!r}'s")
        history = []
        for stored, sender in _expect(raw["history"], _LIST, "the chat history"):
            if type(sender) is not int or type(stored) not in _TEXT_OR_REPLY:
                raise Corrupt("a chat history entry is not a (str, int) pair")
            text = stored if type(stored) is str else _reply(stored, "a chat history entry")
            history.append((text, sender))
        intent, file = raw["intent"], raw["file"]
        prediction = (
            None if intent is None else _prediction(self._bot, _expect(intent, _LIST, "the intent"))
        )
        file = None if file is None else _file(_expect(file, _LIST, "the file"))
        memory = None
        if raw["replies"] is not None:
            memory = OrderedDict()
            for message_id, replies in _expect(raw["replies"], _LIST, "the message_id memory"):
                if type(message_id) is not str or type(replies) is not list:
                    raise Corrupt("a message_id memory entry is not a (str, list) pair")
                memory[message_id] = _replies(replies)
        return SessionData(
            session_id,
            _expect(raw["state"], _OPTIONAL_STR, "the state"),
            _expect(raw["data"], (dict,), "the data"),
            history,
            prediction,
            file,
            _expect(raw["message"], _OPTIONAL_STR, "the message"),
            memory,
        )


class PickleCodec:
    """Store records with pickle: any picklable session value. Opt in only for a trusted store.

    Loading a pickle runs code: **whoever can write the store can run code in your process.**
    Use it only when nobody but this application can write the store, and prefer
    :class:`JsonCodec` otherwise. Intents are stored by name and rebound on decode; everything
    else (aliasing too) comes back as pickle makes it.
    """

    name = "pickle"

    def __init__(self) -> None:
        self._bot: Bot | None = None

    def bind(self, bot: Bot) -> None:
        """Serve ``bot``: decoded intents become the bot's own."""
        self._bot = bot

    def check(self, key: str, value: object) -> None:
        """Refuse ``value`` if it cannot be pickled.

        Raises:
            SessionValueError: pickling the value failed; the message names the key and type.
        """
        if type(value) not in PLAIN:
            _pickled(key, value)

    def encode(self, record: SessionData) -> bytes:
        """Return ``record`` pickled.

        Raises:
            SessionValueError: a session value cannot be pickled; it names the key and type.
        """
        prediction = record.predicted_intent
        file = record.file
        fields = (
            _PICKLE_FORMAT,
            record.id,
            record.state,
            record.data,
            record.chat_history,
            None
            if prediction is None
            else (
                prediction.intent.name,
                prediction.score,
                prediction.matched_sentence,
                _parameters_form(prediction),
            ),
            None if file is None else (file.name, file.type, file.base64),
            record.message,
            record.replies_by_message_id,
        )
        try:
            return pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling runs user code (__reduce__): anything can fail
            for key, value in record.data.items():
                _pickled(key, value)
            raise SessionValueError(
                "predicted_intent",
                prediction,
                reason=f"the predicted intent cannot be pickled ({describe_exception(exc)})",
            ) from exc

    def decode(self, session_id: str, payload: bytes) -> SessionData:
        """Return the record in ``payload``; intents become the bound bot's own.

        Raises:
            StoreCorruptError: the payload cannot be unpickled, or is not ``session_id``'s
                record in this codec's format.
        """
        try:
            raw = pickle.loads(payload)
        except Exception as exc:  # unpickling runs code from the payload: anything can fail
            raise StoreCorruptError(
                session_id, f"not a pickle codec record ({describe_exception(exc)})"
            ) from exc
        try:
            return self._record(session_id, raw)
        except Corrupt as exc:
            raise StoreCorruptError(session_id, str(exc)) from exc
        except _DECODE_ERRORS as exc:
            raise StoreCorruptError(
                session_id, f"not a pickle codec record ({describe_exception(exc)})"
            ) from exc

    def _record(self, session_id: str, raw: Any) -> SessionData:
        if type(raw) is not tuple or len(raw) != 9 or raw[0] != _PICKLE_FORMAT:
            raise Corrupt(f"not a {_PICKLE_FORMAT!r} pickle record")
        _, record_id, state, data, history, intent, file, message, memory = raw
        if record_id != session_id:
            raise Corrupt(f"the record is session {record_id!r}'s")
        prediction = None if intent is None else _prediction(self._bot, intent)
        return SessionData(
            session_id,
            _expect(state, _OPTIONAL_STR, "the state"),
            _expect(data, (dict,), "the data"),
            _expect(history, _LIST, "the chat history"),
            prediction,
            None if file is None else _file(file),
            _expect(message, _OPTIONAL_STR, "the message"),
            _expect(memory, (OrderedDict, type(None)), "the message_id memory"),
        )


def _pickled(key: str, value: object) -> bytes:
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling runs user code (__reduce__): anything can fail
        raise SessionValueError(
            key,
            value,
            reason=(
                f"session value {key!r} of type {type(value).__name__} cannot be stored by the "
                f"pickle codec ({describe_exception(exc)})"
            ),
        ) from exc
