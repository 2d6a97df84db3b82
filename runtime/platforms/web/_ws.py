"""The gateway's own WebSocket protocol at ``/ws`` (frames documented in ``_frames``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from runtime.errors import RuntimeStoppedError, StoreError
from runtime.event import Event, TurnKind, make_received
from runtime.platforms.web._connection import Connection
from runtime.platforms.web._frames import FrameError, ParsedFrame, error_frame, parse_client_frame
from runtime.platforms.web._history import history_entries
from runtime.platforms.web._render import reply_dicts

__all__ = ["WebConnection"]


class WebConnection(Connection):
    """A ``/ws`` client: tokens, resume, acks, typing, rich replies."""

    protocol: ClassVar[str] = "ws"
    typing_frames: ClassVar[bool] = True

    def replies_frame(
        self, in_reply_to: str | None, replies: Sequence[str]
    ) -> list[dict[str, Any]]:
        return [{"type": "replies", "in_reply_to": in_reply_to, "replies": reply_dicts(replies)}]

    def error_frame(
        self, code: str, message: str, in_reply_to: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return error_frame(code, message, in_reply_to, **extra)

    def ack_frame(self, in_reply_to: str | None) -> dict[str, Any] | None:
        return {"type": "ack", "in_reply_to": in_reply_to}

    async def on_text(self, text: str) -> None:
        settings = self.gate.settings
        try:
            frame = parse_client_frame(
                text,
                max_text_chars=settings.max_text_chars,
                max_file_bytes=settings.max_file_bytes,
            )
        except FrameError as exc:
            self.refuse(exc.code, exc.message, exc.in_reply_to)
            return
        if frame.kind == "resume":
            await self._resume(frame)
            return
        if self.session_id is None and not await self._start():
            return
        self._submit(frame)

    def _submit(self, frame: ParsedFrame) -> None:
        session_id = self.session_id
        assert session_id is not None
        kind, value = frame.kind, frame.value
        if kind == "message":
            event = Event(session_id, TurnKind.MESSAGE, value, frame.id)
        elif kind == "file":
            event = Event(session_id, TurnKind.FILE, value, frame.id)
        elif kind == "event":
            event = Event(session_id, TurnKind.EVENT, make_received(*value), frame.id)
        else:
            event = Event(session_id, TurnKind.RESET, None, frame.id)
        self.submit(event, frame.id)

    async def _start(self, token: str | None = None, session_id: str | None = None) -> bool:
        """Start a new session (under ``token`` if given) and open it; False if refused."""
        if self.gate.draining:
            self.refuse("shutting_down", "the server is shutting down; reconnect later")
            return False
        if token is None or session_id is None:
            client = self.websocket.client
            wait = self.gate.allow_new_session(client.host if client is not None else None)
            if wait:
                self.refuse(
                    "rate_limited",
                    "too many new sessions from this address: slow down and resend",
                    retry_after=round(wait, 3),
                )
                return False
            token, session_id = self.gate.tokens.issue()
        self.attach(session_id)
        self.send({"type": "session", "token": token, "resumed": False, "history": []})
        return self.submit(Event(session_id, TurnKind.OPEN), None)

    async def _resume(self, frame: ParsedFrame) -> None:
        token = frame.value
        if token is None:
            await self._start()
            return
        session_id = self.gate.tokens.session_id(token)
        if session_id is None:
            self.refuse(
                "bad_token",
                "this token was not issued by this server; resume with null to start anew",
                frame.id,
            )
            return
        if session_id != self.session_id:
            self.attach(session_id)  # before the snapshot: no turn falls between the two
        try:
            snapshot = await self.gate.snapshot(session_id)
        except (RuntimeStoppedError, StoreError, TimeoutError) as exc:
            self.refuse("unavailable", f"cannot load the session now: {exc}", frame.id)
            return
        if snapshot is None:  # gone (a memory store after a restart): start it again
            await self._start(token, session_id)
            return
        self.send(
            {
                "type": "session",
                "token": token,
                "resumed": True,
                "history": history_entries(snapshot.chat_history),
            }
        )
