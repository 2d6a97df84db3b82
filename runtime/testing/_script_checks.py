"""What scripts may hold, checked when they are read, with a one-line reason for each refusal.

A user id is a session id (non-empty, at most ``MAX_SESSION_ID_LENGTH`` characters); texts
are valid Unicode (JSON lets a string hold a lone surrogate, which no output can print); an
event has a non-empty name and a JSON object payload nested at most :data:`MAX_PAYLOAD_DEPTH`
deep; a file step has a name and optional type and base64 strings. Checking it all up front
means a bad scripts file is a usage error, never a traceback halfway through a run.
"""

from __future__ import annotations

from typing import Any, Final

from runtime.bot import File
from runtime.runtime import MAX_SESSION_ID_LENGTH

__all__ = ["MAX_PAYLOAD_DEPTH", "brief", "check_text", "check_user_id", "read_step", "unique_keys"]

MAX_PAYLOAD_DEPTH: Final = 64
"""How deep an event payload of a scripts file may nest. Real payloads are a few levels deep;
much deeper ones still parse, then overflow the stack where the runtime copies session data
or a report prints the step."""

_STEP_KEYS: Final = {"event": {"event", "payload"}, "file": {"file", "type", "base64"}}

_STEP_SHAPES: Final = (
    "a step is a message (a JSON string), {'file': NAME, 'type': MIME} or "
    "{'event': NAME, 'payload': {...}}"
)


def brief(value: object) -> str:
    """Return ``repr(value)``, cut short to fit in a one-line error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_text(value: str, what: str) -> str:
    """Return ``value`` if it is valid Unicode text.

    Raises:
        ValueError: ``value`` holds a lone surrogate (``what`` names it in the message).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (it holds a lone surrogate)") from None
    return value


def check_user_id(user: str) -> str:
    """Return ``user`` if it can be a session id.

    Raises:
        ValueError: it is empty, longer than ``MAX_SESSION_ID_LENGTH`` characters, or not
            valid Unicode text (the message names the user).
    """
    if not user:
        raise ValueError("a user id cannot be empty")
    if len(user) > MAX_SESSION_ID_LENGTH:
        raise ValueError(
            f"user {brief(user)} has {len(user)} characters; a user id is a session id, "
            f"at most {MAX_SESSION_ID_LENGTH} characters"
        )
    return check_text(user, f"user id {brief(user)}")


def read_step(value: object) -> str | File | tuple[str, dict[str, Any]]:
    """Check one step of a scripts file as :func:`json.load` returns it.

    Returns:
        The message's text, the file, or the event's name and payload.

    Raises:
        ValueError: ``value`` is not a valid message, file or event (the message says why).
    """
    if isinstance(value, str):
        return check_text(value, "a message")
    kinds = [key for key in _STEP_KEYS if isinstance(value, dict) and key in value]
    if not isinstance(value, dict) or len(kinds) != 1:
        raise ValueError(f"{_STEP_SHAPES}; got {brief(value)}")
    kind = kinds[0]
    unknown = sorted(set(value) - _STEP_KEYS[kind])
    if unknown:
        allowed = ", ".join(repr(key) for key in sorted(_STEP_KEYS[kind]))
        raise ValueError(f"{kind} steps take only the keys {allowed}, not {brief(unknown[0])}")
    if kind == "event":
        name, payload = value["event"], value.get("payload")
        if not isinstance(name, str) or not name:
            raise ValueError(f"an event name is a non-empty string, got {brief(name)}")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise ValueError(f"an event's payload is a JSON object, got {brief(payload)}")
        _check_payload(payload)
        return check_text(name, "an event name"), payload
    return _read_file(value)


def _read_file(value: dict[str, Any]) -> File:
    for key in ("file", "type", "base64"):
        if key in value and not isinstance(value[key], str):
            raise ValueError(f"a file step's {key!r} is a string, got {brief(value[key])}")
        check_text(value.get(key) or "", f"a file step's {key!r}")
    if not value["file"]:
        raise ValueError("a file step needs a file name, got ''")
    content = value.get("base64")
    try:
        return File(
            file_name=value["file"],
            file_type=value.get("type"),
            file_base64=content,
            file_data=None if content is not None else b"\x00",
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad file step {brief(value)}: {exc}") from exc


def _check_payload(payload: dict[str, Any]) -> None:
    """Check, without recursing, that a JSON payload is not too deep and holds valid text."""
    pending: list[tuple[object, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, "a string in the event's payload")
        elif isinstance(value, dict | list):
            if depth > MAX_PAYLOAD_DEPTH:
                raise ValueError(f"an event's payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
            children = [*value, *value.values()] if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a key given twice (the first value would be lost silently).

    Pass it to :func:`json.load` as ``object_pairs_hook``.

    Raises:
        ValueError: a key appears twice.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {brief(key)} appears twice in one object")
            seen.add(key)
    return result
