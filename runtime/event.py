"""The one event type: what a platform asks a session to handle.

Every way in (``Runtime.send_message`` and its siblings, ``Runtime.submit``, the testing
toolkit, the benchmarks, later the servers and the Ray backend) builds an :class:`Event` and
hands it to one submit path. An event is plain, frozen data: it can be logged, compared,
queued, sent to another process and replayed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from runtime.bot import File

__all__ = [
    "MAX_ID_LENGTH",
    "Event",
    "EventFields",
    "ReceivedEvent",
    "TurnKind",
    "check_event",
]

#: The longest session id or message id the runtime accepts (they key logs and storage).
MAX_ID_LENGTH = 256


class TurnKind(enum.Enum):
    """What an event asks of its session."""

    OPEN = "open"  # open_session: run the initial body if the session is new
    MESSAGE = "message"  # a text message from the user; payload: the text
    FILE = "file"  # a file from the user; payload: a runtime.File
    EVENT = "event"  # a named event from outside (webhook, timer...); payload: ReceivedEvent
    RESET = "reset"  # forget the session's data and start over from the initial state


@dataclass(frozen=True)
class ReceivedEvent:
    """An event sent with ``Runtime.send_event``, visible as ``session.event`` in its turn."""

    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class Event(NamedTuple):
    """One event for one session (immutable; a named tuple, so it is cheap to make).

    Attributes:
        session_id: the session it is for (opened first if unknown).
        kind: what it asks (see :class:`TurnKind`).
        payload: the text (MESSAGE), the ``File`` (FILE), the ``ReceivedEvent`` (EVENT), or
            None (OPEN, RESET).
        message_id: an id for exactly-once handling: a resend with an id the session already
            committed returns the stored replies without running any body.
    """

    session_id: str
    kind: TurnKind
    payload: Any = None
    message_id: str | None = None

    @classmethod
    def message(cls, session_id: str, text: str, *, message_id: str | None = None) -> Event:
        """Build a text message event."""
        return cls(session_id, TurnKind.MESSAGE, text, message_id)

    @classmethod
    def custom(
        cls,
        session_id: str,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
    ) -> Event:
        """Build a named event (``session.event`` is ``ReceivedEvent(name, payload)``)."""
        return cls(session_id, TurnKind.EVENT, make_received(name, payload), message_id)


class EventFields(Protocol):
    """What reads an event's fields needs: an :class:`Event`, or a queued request carrying one
    (a session actor's ``TurnRequest`` keeps the fields, not the tuple)."""

    @property
    def session_id(self) -> str: ...

    @property
    def kind(self) -> TurnKind: ...

    @property
    def payload(self) -> Any: ...

    @property
    def message_id(self) -> str | None: ...


def make_received(name: str, payload: Mapping[str, Any] | None) -> ReceivedEvent:
    """Build the ``session.event`` value of a named event (the payload is copied)."""
    return ReceivedEvent(name, dict(payload) if payload else {})


def check_id(what: str, value: object) -> str:
    """Return ``value`` if it is a valid session or message id, else raise.

    Raises:
        TypeError: it is not a str.
        ValueError: it is empty or longer than ``MAX_ID_LENGTH``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must be a non-empty str")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    return value


def check_event(event: object) -> Event:
    """Return ``event`` if it is a well-formed :class:`Event`, else raise saying what is wrong.

    Raises:
        TypeError, ValueError: the event or one of its fields is invalid.
    """
    if not isinstance(event, Event):
        raise TypeError(f"expected a runtime.Event, got {type(event).__name__}")
    check_id("session_id", event.session_id)
    if event.message_id is not None:
        check_id("message_id", event.message_id)
    kind, payload = event.kind, event.payload
    if not isinstance(kind, TurnKind):
        raise TypeError(f"Event.kind must be a TurnKind, got {kind!r}")
    if kind is TurnKind.MESSAGE and not isinstance(payload, str):
        raise TypeError(
            f"a message event's payload is its text (str), got {type(payload).__name__}"
        )
    if kind is TurnKind.FILE and not isinstance(payload, File):
        raise TypeError(f"a file event's payload is a runtime.File, got {type(payload).__name__}")
    if kind is TurnKind.EVENT:
        if not isinstance(payload, ReceivedEvent):
            raise TypeError(
                "a named event's payload is a ReceivedEvent (build it with Event.custom), "
                f"got {type(payload).__name__}"
            )
        if not isinstance(payload.name, str) or not payload.name:
            raise TypeError(f"event name must be a non-empty str, got {payload.name!r}")
        if not isinstance(payload.payload, Mapping):
            raise TypeError("event payload must be a mapping")
    if kind in (TurnKind.OPEN, TurnKind.RESET) and payload is not None:
        raise ValueError(f"a {kind.value} event takes no payload, got {type(payload).__name__}")
    return event
