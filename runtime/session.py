"""The session: one user's private data, and the guarded view of it that bodies receive.

``SessionData`` is the plain record an actor owns. ``Session`` is what body and event functions
see (the seed's API). A ``Session`` works only inside its own session's turn, on the thread
running that turn: a body that stashed another user's session in a global and calls it later
gets ``SessionAccessError`` and the other user's data stays untouched.
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime._values import copy_values
from runtime.errors import NotAvailableError, SessionAccessError
from runtime.event import ReceivedEvent
from runtime.replies import Reply

if TYPE_CHECKING:
    from runtime.bot import Bot, File, IntentClassifierPrediction, State

__all__ = ["ReceivedEvent", "Session", "SessionData", "SessionSnapshot"]

_get_ident = threading.get_ident

#: How many message_id -> replies pairs a session remembers by default to answer resends
#: (``Runtime(message_id_window=...)``).
MESSAGE_ID_MEMORY = 128


@dataclass(frozen=True)
class SessionSnapshot:
    """A frozen copy of a session at one point between turns.

    Attributes:
        id: the session id.
        state: the current state's name.
        data: a deep copy of the session's variables (read-only mapping).
        chat_history: ``(text, sender)`` pairs, oldest first; sender 0 = bot, 1 = user. A
            rich reply's text is its :class:`~runtime.replies.Reply` (a ``str``).
    """

    id: str
    state: str
    data: Mapping[str, Any]
    chat_history: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class SessionData:
    """Everything a session owns; one serialisable record (the unit of passivation)."""

    id: str
    state: str | None = None  # None until the initial state's body has run
    data: dict[str, Any] = field(default_factory=dict)
    chat_history: list[tuple[str, int]] = field(default_factory=list)
    predicted_intent: IntentClassifierPrediction | None = None
    file: File | None = None
    message: str | None = None
    replies_by_message_id: OrderedDict[str, tuple[str, ...]] | None = None

    def clear(self) -> None:
        """Forget the conversation (a reset): state, data, history, last intent, file, message.

        The ``message_id`` memory is kept: a resend of a message handled before the reset must
        still not run the bot again.
        """
        self.state = None
        self.data = {}
        self.chat_history = []
        self.predicted_intent = None
        self.file = None
        self.message = None

    def replies_for(self, message_id: str) -> tuple[str, ...] | None:
        """Return the replies already produced for ``message_id``, if remembered."""
        memory = self.replies_by_message_id
        return None if memory is None else memory.get(message_id)

    def remember(
        self, message_id: str, replies: list[str], window: int = MESSAGE_ID_MEMORY
    ) -> None:
        """Remember the replies for ``message_id`` so a resend does not run bodies twice.

        Only the last ``window`` message ids are kept (the oldest is forgotten first).
        """
        if self.replies_by_message_id is None:
            self.replies_by_message_id = OrderedDict()
        memory = self.replies_by_message_id
        memory[message_id] = tuple(replies)
        while len(memory) > window:
            memory.popitem(last=False)

    def snapshot(self) -> SessionSnapshot:
        """Return a frozen, deep copy of the session.

        Raises:
            SessionValueError: a value cannot be copied (it names the key).
        """
        return SessionSnapshot(
            id=self.id,
            state=self.state or "",
            data=types.MappingProxyType(copy_values(self.data)),
            chat_history=tuple(self.chat_history),
        )


class Session:
    """One user's session, as body and event functions see it (the seed's API).

    Only usable inside its own turn: every method and property except ``id`` raises
    ``SessionAccessError`` when called from elsewhere.
    """

    __slots__ = ("_bot", "_check", "_data", "_event", "_owner", "_replies")

    def __init__(
        self, data: SessionData, bot: Bot, check: Callable[[str, object], None] | None = None
    ) -> None:
        self._data = data
        self._bot = bot
        self._check = check  # the store's codec check: refuse what it cannot keep, at once
        self._owner: int | None = None
        self._replies: list[str] = []
        self._event: ReceivedEvent | None = None

    # -- turn control (used by the engine only) ---------------------------------------------

    def _begin_turn(self, event: ReceivedEvent | None = None) -> list[str]:
        self._owner = _get_ident()
        self._replies = []
        self._event = event
        return self._replies

    def _end_turn(self) -> None:
        self._owner = None
        self._event = None

    def _checked(self) -> SessionData:
        if self._owner != _get_ident():
            raise SessionAccessError(
                f"session {self._data.id!r} was used outside its own turn; a body may only "
                "touch the session it was called with (do not keep sessions in globals)"
            )
        return self._data

    # -- the seed's API ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (readable anywhere)."""
        return self._data.id

    def reply(self, message: str) -> None:
        """Send ``message`` to the user; it is also added to the chat history.

        A :class:`~runtime.replies.Reply` (``Reply.markdown(...)``...) is sent as the kind it
        is; any other str as text.

        Raises:
            TypeError: ``message`` is not a str.
        """
        data = self._checked()
        if not isinstance(message, str):
            raise TypeError(f"session.reply() takes a str, got {type(message).__name__}")
        self._replies.append(message)
        data.chat_history.append((message, 0))

    def reply_markdown(self, text: str) -> None:
        """Send ``text`` as markdown, for clients that render it; it is added to the history.

        Raises:
            TypeError: ``text`` is not a str.
        """
        self._send(self._checked(), Reply.markdown(text))

    def reply_html(self, text: str) -> None:
        """Send ``text`` as HTML, which clients render sanitised; it is added to the history.

        Raises:
            TypeError: ``text`` is not a str.
        """
        self._send(self._checked(), Reply.html(text))

    def reply_options(self, options: Sequence[str]) -> None:
        """Send buttons; pressing one sends its text as the user's message.

        Raises:
            TypeError: ``options`` is not a list of str.
            ValueError: ``options`` is empty.
        """
        self._send(self._checked(), Reply.options(options))

    def reply_file(self, file: File) -> None:
        """Send ``file`` for the user to download; its name is added to the history.

        Raises:
            TypeError: ``file`` is not a ``runtime.File``.
        """
        self._send(self._checked(), Reply.file(file))

    def reply_image(self, image: File | bytes, *, name: str = "image") -> None:
        """Send an image: a ``File`` of an ``image/*`` type, or PNG, JPEG, GIF or WebP bytes.

        Args:
            image: the image.
            name: the file name given to image bytes (a ``File`` keeps its own).

        Raises:
            TypeError: ``image`` is neither a ``runtime.File`` nor bytes.
            ValueError: the file's type is not ``image/*``, or the bytes are not an image of a
                known format.
        """
        self._send(self._checked(), Reply.image(image, name=name))

    def reply_location(self, latitude: float, longitude: float) -> None:
        """Send a point on a map, in degrees; ``"latitude, longitude"`` joins the history.

        Raises:
            TypeError: a coordinate is not a number.
            ValueError: a coordinate is out of range (latitude within ±90, longitude ±180)
                or not finite.
        """
        self._send(self._checked(), Reply.location(latitude, longitude))

    def reply_json(self, value: Any) -> None:
        """Send any JSON value, for clients that render data (cards, tables, charts).

        Raises:
            TypeError: ``value`` is not JSON data (e.g. a set, or a float nan).
        """
        self._send(self._checked(), Reply.json(value))

    def _send(self, data: SessionData, reply: Reply) -> None:
        # Called once the reply is built: bad input raised before anything changed.
        self._replies.append(reply)
        data.chat_history.append((reply, 0))

    @property
    def chat_history(self) -> list[tuple[str, int]]:
        """A copy of the conversation: ``(text, sender)``, oldest first; 0 = bot, 1 = user."""
        return list(self._checked().chat_history)

    def get_chat_history(self, n: int | None = None) -> list[tuple[str, int]]:
        """Return the last ``n`` entries of the chat history (all of it when ``n`` is None)."""
        history = self._checked().chat_history
        if n is None:
            return list(history)
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int or None, got {n!r}")
        return history[len(history) - n :] if n else []

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in this session.

        Raises:
            TypeError: ``key`` is not a str.
            SessionValueError: the session's durable store cannot keep ``value`` (the message
                names the key and the type); the session is unchanged.
        """
        data = self._checked()
        if not isinstance(key, str):
            raise TypeError(f"session keys are str, got {type(key).__name__}")
        if self._check is not None:
            self._check(key, value)
        data.data[key] = value

    def get(self, key: str) -> Any:
        """Return the value stored under ``key``, or None when there is none."""
        return self._checked().data.get(key)

    def delete(self, key: str) -> None:
        """Remove ``key`` from this session.

        Raises:
            KeyError: the session holds no ``key`` (as in BBF; check with ``get`` first, or
                catch it, to delete a key that may be absent).
        """
        data = self._checked().data
        if key not in data:
            raise KeyError(f"session {self._data.id!r} has no variable {key!r} to delete")
        del data[key]

    @property
    def predicted_intent(self) -> IntentClassifierPrediction | None:
        """The classifier's prediction for the last message (None before any message)."""
        return self._checked().predicted_intent

    @property
    def file(self) -> File | None:
        """The last file the user sent (None before any file)."""
        return self._checked().file

    @property
    def message(self) -> str | None:
        """The last message the user sent (None before any message)."""
        return self._checked().message

    @property
    def current_state(self) -> State:
        """The state the session is in."""
        data = self._checked()
        state = self._bot.initial_state if data.state is None else self._bot.get_state(data.state)
        assert state is not None  # a served bot always has an initial state
        return state

    @property
    def event(self) -> ReceivedEvent | None:
        """The event being handled in this turn (from ``Runtime.send_event``), else None."""
        self._checked()
        return self._event

    def run_rag(self, *args: Any, **kwargs: Any) -> Any:
        """BBF's retrieval-augmented generation: not available in this runtime.

        Raises:
            NotAvailableError: always (it needs a language model).
        """
        self._checked()
        raise NotAvailableError("session.run_rag()", "RAG answers need a language model")

    def __repr__(self) -> str:
        return f"Session(id={self._data.id!r})"
