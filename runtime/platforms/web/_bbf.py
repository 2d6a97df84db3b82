"""BBF 1.5's WebSocket payload protocol at the root path, for clients written for BBF.

BBF's ``WebSocketPlatform`` gives each connection a new session, runs its initial body, and
deletes the session when the connection closes; frames are ``{"action", "message"}`` JSON:
``user_message`` (text), ``user_file`` (a JSON string or object ``{"name", "type",
"base64"}``) and ``reset`` in; ``bot_reply_str``, ``bot_reply_markdown``, ``bot_reply_html``,
``bot_reply_file``, ``bot_reply_image``, ``bot_reply_options`` and ``bot_reply_location`` out
(``runtime.platforms.web._render.bbf_payload``). This does the same, with our sessions.

BBF has no error frames (it drops a bad frame and ends the connection); here a bad frame or a
failed turn gets ``{"action": "error", "message": ...}``, which BBF's clients ignore, and the
connection goes on. ``user_voice`` needs a speech model: it is refused that way too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from runtime.bot import File
from runtime.event import Event, TurnKind
from runtime.platforms.web._connection import Connection
from runtime.platforms.web._frames import FrameError, base64_size
from runtime.platforms.web._render import bbf_payload

__all__ = ["BbfConnection"]


class BbfConnection(Connection):
    """A client of BBF 1.5's WebSocket platform."""

    protocol: ClassVar[str] = "bbf"

    def replies_frame(
        self, in_reply_to: str | None, replies: Sequence[str]
    ) -> list[dict[str, Any]]:
        return [bbf_payload(reply) for reply in replies]

    def error_frame(
        self, code: str, message: str, in_reply_to: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {"action": "error", "message": f"{code}: {message}"}

    async def on_open(self) -> None:
        if self.gate.draining:
            self.refuse("shutting_down", "the server is shutting down; reconnect later")
            return
        _, session_id = self.gate.tokens.issue()
        self.attach("bbf-" + session_id.removeprefix("web-"))
        assert self.session_id is not None
        self.submit(Event(self.session_id, TurnKind.OPEN), None)

    async def on_close(self) -> None:
        if self.session_id is not None and self.gate.settings.forget_bbf_sessions:
            try:
                self.runtime.forget(self.session_id)  # after its queued events, as BBF does
            except Exception as exc:  # stopping: the session stays in the store
                self._log.info("bbf_session_kept", session_id=self.session_id, reason=str(exc))

    async def on_text(self, text: str) -> None:
        if self.session_id is None:
            return
        try:
            event = self._event(text)
        except FrameError as exc:
            self.refuse(exc.code, exc.message)
            return
        self.submit(event, None)

    def _event(self, text: str) -> Event:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise FrameError("bad_json", f"the payload is not valid JSON: {exc}") from None
        if type(payload) is not dict or "action" not in payload:
            raise FrameError("bad_frame", 'a payload is {"action": ..., "message": ...}')
        action, message = payload["action"], payload.get("message")
        session_id = self.session_id
        assert session_id is not None
        settings = self.gate.settings
        if action == "user_message":
            if not isinstance(message, str):
                raise FrameError("bad_frame", "user_message's message must be a str")
            if len(message) > settings.max_text_chars:
                raise FrameError("too_large", f"the message is over {settings.max_text_chars}")
            return Event(session_id, TurnKind.MESSAGE, message)
        if action == "user_file":
            return Event(session_id, TurnKind.FILE, _file(message, settings.max_file_bytes))
        if action == "reset":
            return Event(session_id, TurnKind.RESET)
        if action == "user_voice":
            raise FrameError("unsupported", "not available in this runtime: speech to text")
        shown = repr(action)[:40]
        raise FrameError(
            "unknown_type", f"unknown action {shown}: expected user_message, user_file or reset"
        )


def _file(message: object, max_bytes: int) -> File:
    """BBF's ``File.decode``: a JSON string (or object) with name, type and base64."""
    if isinstance(message, str):
        # orjson, not BBF's json.loads: that raised RecursionError on deep nesting (which
        # dropped the connection) and let escaped lone surrogates into the file's name.
        try:
            message = orjson.loads(message)
        except orjson.JSONDecodeError:
            raise FrameError("bad_frame", "user_file's message is not a JSON file") from None
    if not isinstance(message, dict):
        raise FrameError("bad_frame", 'user_file\'s message is {"name", "type", "base64"}')
    name, mime, data = message.get("name"), message.get("type"), message.get("base64")
    if not (isinstance(name, str) and name and isinstance(data, str) and data):
        raise FrameError("bad_frame", "user_file needs a name and base64 content")
    if mime is not None and not isinstance(mime, str):
        raise FrameError("bad_frame", "user_file's type must be a str")
    if base64_size(data) > max_bytes:
        raise FrameError("too_large", f"the file is over {max_bytes} bytes")
    try:
        return File(file_name=name[:255], file_type=mime or None, file_base64=data)
    except ValueError as exc:
        raise FrameError("bad_frame", f"user_file's base64 is invalid: {exc}") from None
