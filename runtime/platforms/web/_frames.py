"""The ``/ws`` protocol: client frames parsed and checked, server frames built.

Every frame is one JSON object in a text frame, with a ``type``.

Client to server:

- ``{"type": "resume", "token": str | null}``: continue the session of ``token`` (the server
  answers ``session`` with its history), or with no token start a new one. Optional; any
  other first frame starts a new session too.
- ``{"type": "message", "text": str, "id"?: str}``: a user message.
- ``{"type": "file", "file": {"name": str, "type"?: str, "base64": str}, "id"?: str}``.
- ``{"type": "event", "name": str, "payload"?: object, "id"?: str}``: a named event.
- ``{"type": "reset", "id"?: str}``: forget the conversation and start again.

``id`` is the client's id for the frame (1-256 chars): it comes back in ``ack``, ``replies``
and ``error`` as ``in_reply_to``, and it is the turn's ``message_id``, so a frame resent with
the same id after a reconnect is answered from the store and never runs the bot twice.

Server to client:

- ``{"type": "session", "token": str, "resumed": bool, "history": [entry...]}``: the session
  this connection talks to; keep the token to resume it. An entry is ``{"sender": "bot" |
  "user", "reply": reply}``.
- ``{"type": "ack", "in_reply_to": id | null}``: the frame was accepted; its turn will be
  committed (durably, with a durable store) unless an ``error`` with the same id follows.
  When the turn's ``replies`` (or ``error``) are ready by the time the ack would be written,
  the ack is left out: the answer implies it (under load this saves a frame per message).
- ``{"type": "typing", "on": bool}``: a turn is taking a while (sent after 0.3 s), and when
  it is over.
- ``{"type": "replies", "in_reply_to": id | null, "replies": [reply...]}``: one committed
  turn's replies, in turn order. ``in_reply_to`` is null for a turn this connection did not
  send (the session opening, an event from a webhook, another device on the same token).
  A reply is ``{"kind", "text", "content"?, "html"?}`` (``runtime.replies``).
- ``{"type": "error", "code": str, "message": str, "in_reply_to": id | null,
  "retry_after"?: seconds}``: the frame was refused or its turn failed (nothing of it was
  committed). The connection stays open. Codes: refused frames ``bad_json``, ``bad_frame``,
  ``unknown_type``, ``too_large``, ``rate_limited`` (no id: the frame was not read; resend
  it after ``retry_after``), ``bad_token``, ``unavailable`` (the session cannot be loaded
  now), ``shutting_down``; failed turns ``overloaded`` (with ``retry_after``), ``timeout``,
  ``store_unavailable``, ``bad_value``, ``turn_failed``.

After a ``resume``, a turn that commits while the history is read may come both in the
``session`` frame's history and as a ``replies`` frame just before it. A client that lost
its connection after an ``ack`` gets that turn's replies in the history on resume, or resends
the frame with the same ``id`` (answered from the session, never run twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from runtime.bot import File
from runtime.event import MAX_ID_LENGTH

__all__ = [
    "FrameError",
    "ParsedFrame",
    "base64_size",
    "dump",
    "error_frame",
    "parse_client_frame",
]

#: The client frame types, for error messages.
CLIENT_TYPES = ("resume", "message", "file", "event", "reset")


class FrameError(Exception):
    """A client frame the server cannot take; ``code`` is the error frame's code."""

    def __init__(self, code: str, message: str, in_reply_to: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.in_reply_to = in_reply_to


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """One checked client frame: ``kind`` is its type, ``value`` what it carries.

    ``value`` is the text (message), a ``File`` (file), ``(name, payload)`` (event), the token
    or None (resume), or None (reset).
    """

    kind: str
    value: Any
    id: str | None


def base64_size(data: str) -> int:
    """The bytes that padded base64 ``data`` decodes to, counted without decoding it."""
    # Without the padding, a limit that is not a multiple of 3 refused files up to 2 bytes
    # under it.
    return len(data) * 3 // 4 - data[-2:].count("=")


def dump(frame: dict[str, Any]) -> str:
    """Serialise a server frame.

    A bot may reply text that UTF-8 cannot carry (a lone surrogate, from a file name decoded
    with ``surrogateescape``): orjson refuses it, and the frame is written with JSON's
    ``\\udcff`` escapes instead, so it still reaches the client.
    """
    try:
        return orjson.dumps(frame).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(frame, separators=(",", ":"))  # ASCII: escapes what UTF-8 cannot


def error_frame(
    code: str, message: str, in_reply_to: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Build an ``error`` frame."""
    return {"type": "error", "code": code, "message": message, "in_reply_to": in_reply_to, **extra}


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _frame_id(frame: dict[str, Any]) -> str | None:
    value = frame.get("id")
    if value is None:
        return None
    if not _is_id(value):
        raise FrameError("bad_frame", f"id must be a str of 1 to {MAX_ID_LENGTH} characters")
    return value


def parse_client_frame(text: str, *, max_text_chars: int, max_file_bytes: int) -> ParsedFrame:
    """Parse and check one client frame.

    Raises:
        FrameError: it is not JSON (``bad_json``), not an object with a known ``type``
            (``bad_frame``, ``unknown_type``), or a field is missing, of the wrong type or too
            large (``bad_frame``, ``too_large``); the message says which.
    """
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError("bad_json", f"the frame is not valid JSON: {exc}") from None
    if type(frame) is not dict:
        raise FrameError("bad_frame", "a frame is a JSON object with a type")
    kind = frame.get("type")
    if kind not in CLIENT_TYPES:
        shown = repr(kind) if isinstance(kind, str) and len(kind) <= 40 else "missing or invalid"
        # A well-formed id comes back, so a client can tell which frame was refused.
        frame_id = frame.get("id")
        raise FrameError(
            "unknown_type",
            f"frame type {shown}: expected one of {', '.join(CLIENT_TYPES)}",
            frame_id if _is_id(frame_id) else None,
        )
    frame_id = _frame_id(frame)
    try:
        if kind == "message":
            return ParsedFrame(kind, _text(frame, max_text_chars), frame_id)
        if kind == "file":
            return ParsedFrame(kind, _file(frame.get("file"), max_file_bytes), frame_id)
        if kind == "event":
            return ParsedFrame(kind, _event(frame), frame_id)
        if kind == "resume":
            token = frame.get("token")
            if token is not None and not isinstance(token, str):
                raise FrameError("bad_frame", "resume's token must be a str or null")
            return ParsedFrame(kind, token, frame_id)
        return ParsedFrame(kind, None, frame_id)  # reset
    except FrameError as exc:
        exc.in_reply_to = frame_id
        raise


def _text(frame: dict[str, Any], max_chars: int) -> str:
    text = frame.get("text")
    if not isinstance(text, str):
        raise FrameError("bad_frame", "a message frame needs a text (str)")
    if len(text) > max_chars:
        raise FrameError("too_large", f"the message is over {max_chars} characters")
    return text


def _file(raw: object, max_bytes: int) -> File:
    """Check an uploaded file: ``{"name": str, "type"?: str, "base64": str}``."""
    if not isinstance(raw, dict):
        raise FrameError("bad_frame", 'a file frame needs "file": {"name", "type", "base64"}')
    name, mime, data = raw.get("name"), raw.get("type"), raw.get("base64")
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        raise FrameError("bad_frame", "the file's name must be a str of 1 to 255 characters")
    if mime is not None and (not isinstance(mime, str) or len(mime) > 255):
        raise FrameError("bad_frame", "the file's type must be a MIME type str or null")
    if not isinstance(data, str):
        raise FrameError("bad_frame", "the file's base64 must be a str")
    if base64_size(data) > max_bytes:
        raise FrameError("too_large", f"the file is over {max_bytes} bytes")
    try:
        return File(file_name=name, file_type=mime or None, file_base64=data)
    except ValueError as exc:
        raise FrameError("bad_frame", f"the file's base64 is invalid: {exc}") from None


def _event(frame: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name, payload = frame.get("name"), frame.get("payload")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_ID_LENGTH:
        raise FrameError("bad_frame", f"an event's name must be a str of 1 to {MAX_ID_LENGTH}")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise FrameError("bad_frame", "an event's payload must be a JSON object or null")
    return name, payload
