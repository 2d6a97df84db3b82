"""uvicorn's WebSocket protocol with reads paused at a high-water mark: the one place that
leans on uvicorn internals (pinned in pyproject.toml; tests/web/test_uvicorn_contract.py).

uvicorn pauses reading a WebSocket after every message it hands to the app, and resumes when
the app takes it. On asyncio's own loop each resume re-registers the socket with the selector,
in Python: a third of the gateway's loop thread under load (py-spy, W8). Here reading pauses
only once :data:`HIGH_MESSAGES` messages or :data:`HIGH_BYTES` bytes wait for the app, and
resumes when they are down to a quarter, so the memory a connection holds stays bounded while
the socket is not re-registered per message (measured: +32% messages/s in W8).

On shutdown it closes with a closing handshake (:meth:`HighWaterWebSocketProtocol.shutdown`):
uvicorn's own shutdown closed the socket at once, and a client's unread bytes turned that into
a TCP reset that could destroy the last replies on their way to the client.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

__all__ = ["HIGH_BYTES", "HIGH_MESSAGES", "HighWaterWebSocketProtocol"]

HIGH_MESSAGES = 16
"""Messages waiting for the app before reading pauses."""

HIGH_BYTES = 1024 * 1024
"""Bytes (about) waiting for the app before reading pauses; a single larger message always
gets in (uvicorn's ``ws_max_size`` bounds it)."""


class HighWaterWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` pausing reads at a high-water mark (see module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queued_bytes = 0  # bytes of the messages waiting for the app (chars once text)

    def send_receive_event_to_app(self) -> None:
        """Queue the message just received; pause reading only past the high-water mark."""
        size = sum(map(len, self.frames))
        queued = self.queue.qsize()
        paused = self.read_paused
        self.read_paused = True  # uvicorn pauses after each message unless reads are paused
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if self.queue.qsize() > queued:
            self.queued_bytes += size
        if (
            not paused
            and not self.close_sent  # after our close, reads go on for the peer's reply
            and (self.queue.qsize() >= HIGH_MESSAGES or self.queued_bytes >= HIGH_BYTES)
        ):
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> Any:
        """Hand the app the next message; resume reading once down to a quarter."""
        message = await self.queue.get()
        if self.queue.empty():
            self.queued_bytes = 0  # text is counted in bytes in, chars out: no drift
        else:
            body = message.get("text") or message.get("bytes") or b""
            self.queued_bytes -= len(body) if isinstance(body, str | bytes) else 0
        if (
            self.read_paused
            and self.queue.qsize() <= HIGH_MESSAGES // 4
            and self.queued_bytes <= HIGH_BYTES // 4
        ):
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def shutdown(self) -> None:
        """Close with 1012 as uvicorn does, but wait for the client's close frame (reading and
        dropping what it still sends) before closing the socket, up to ``close_timeout``.

        uvicorn's ``shutdown`` stops reading and closes the socket as soon as its buffer is
        written. A client still sending (a message per reply, its answer to the close) leaves
        unread bytes in the socket, and closing a socket with unread bytes makes the kernel
        send a reset instead of a FIN: it drops what it has not sent yet, and the client may
        lose the replies it has not read yet. uvicorn's shutdown waits for the connections to
        close (``timeout_graceful_shutdown``).
        """
        if (
            self.close_sent
            or not self.handshake_complete
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1012})
        self.conn.send_close(1012)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True  # the app's frames are refused from now on, as after its close
        # As after the app's own close (uvicorn's send): read on until the client's close
        # frame, whose arrival (handle_close) closes the transport; the timer bounds the wait.
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
