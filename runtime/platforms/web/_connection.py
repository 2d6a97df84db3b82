"""One WebSocket connection: its frames in, its session's turns out, in turn order.

A connection talks to one session at a time. It subscribes to the session
(``Runtime.subscribe``), so every committed turn reaches it in turn order, whoever sent the
event: this connection, an HTTP webhook, another device on the same token. Each event it
submits itself is remembered until its turn settles, so its replies go out marked with the
client's id and a failed turn becomes an ``error`` frame with that id.

Everything that comes from a session's worker thread (the subscription callback, the
future's done callback) is handed to the event loop with ``call_soon_threadsafe``, and both
are called on the session's thread in turn order (the subscription right after the commit,
then the future), so the loop sees them in turn order too. The loop never waits on a turn.
Frames go out through one queue and one writer task, in the order they were made.

Subclasses speak a protocol: :meth:`on_text` handles one client frame; ``replies_frame``,
``error_frame`` and ``ack_frame`` shape what goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, ClassVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from runtime.errors import RuntimeStoppedError, describe_exception
from runtime.event import Event, TurnKind
from runtime.log import get_logger
from runtime.platforms.web._frames import dump
from runtime.platforms.web._gate import Gate, error_code
from runtime.replies import typed
from runtime.subscriptions import Subscription

__all__ = ["Connection"]

TYPING_AFTER = 0.3
"""Seconds a turn may take before the client is told the bot is typing."""

MAX_OUTBOX = 10_000
"""Frames waiting for a client that does not read them before its connection is closed."""

_KIND_NAME = {kind: kind.value for kind in TurnKind}
_OPEN = TurnKind.OPEN


class Connection:
    """The transport and turn tracking of one WebSocket connection (see module doc).

    Args:
        websocket: the accepted-to-be connection.
        gate: the gateway's shared state.
    """

    protocol: ClassVar[str] = "ws"
    typing_frames: ClassVar[bool] = False

    def __init__(self, websocket: WebSocket, gate: Gate) -> None:
        self.websocket = websocket
        self.gate = gate
        self.runtime = gate.runtime
        self.session_id: str | None = None
        self.limiter = gate.limiter()
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._subscription: Subscription | None = None
        # id(event) -> (event, client id, start time): this connection's turns not settled.
        self._pending: dict[int, tuple[Event, str | None, float]] = {}
        self._typing: asyncio.TimerHandle | None = None
        self._typing_shown = False
        self._closed = False
        self._close_task: asyncio.Future[None] | None = None
        self._log = get_logger(protocol=self.protocol)

    # -- protocol hooks ---------------------------------------------------------------------

    async def on_open(self) -> None:
        """Called once the connection is accepted."""

    async def on_text(self, text: str) -> None:
        """Handle one client text frame."""
        raise NotImplementedError

    async def on_close(self) -> None:
        """Called once the connection is gone (the subscription is already cancelled)."""

    def replies_frame(
        self, in_reply_to: str | None, replies: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The frames that carry one committed turn's replies."""
        raise NotImplementedError

    def error_frame(
        self, code: str, message: str, in_reply_to: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The frame that reports an error."""
        raise NotImplementedError

    def ack_frame(self, in_reply_to: str | None) -> dict[str, Any] | None:
        """The frame that acknowledges an accepted event (None: the protocol has none)."""
        return None

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client leaves or the server shuts down."""
        metrics = self.gate.metrics
        await self.websocket.accept()
        metrics.connections_opened.labels(self.protocol).inc()
        gauge = metrics.connections.labels(self.protocol)
        gauge.inc()
        writer = asyncio.create_task(self._write())
        try:
            await self.on_open()
            await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            gauge.dec()
            self._closed = True
            self._cancel_subscription()
            if self._typing is not None:
                self._typing.cancel()
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
            await self.on_close()

    async def _read(self) -> None:
        max_frame = self.gate.settings.max_frame_bytes
        receive = self.websocket.receive
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.refuse("bad_frame", "frames are JSON text, not binary")
                continue
            # The limit is in bytes; a character is 1 to 4 bytes of UTF-8 (encode only when
            # it matters: most frames are far under the limit).
            if len(text) * 4 > max_frame and len(text.encode("utf-8")) > max_frame:
                self.refuse("too_large", f"the frame is over {max_frame} bytes")
                continue
            wait = self.limiter.take()
            if wait:
                self.refuse(
                    "rate_limited",
                    "too many frames: slow down and resend",
                    retry_after=round(wait, 3),
                )
                continue
            await self.on_text(text)

    async def _write(self) -> None:
        send = self.websocket.send_text
        get = self._outbox.get
        while True:
            text = await get()
            if text is None:
                return
            try:
                await send(text)
            except Exception:  # the client is gone: drop what is left
                self._closed = True
                return

    def send(self, frame: dict[str, Any]) -> None:
        """Queue one frame for the client.

        A client that reads nothing while its session keeps replying would make the queue
        grow without end: past :data:`MAX_OUTBOX` frames the connection is closed (code 1013,
        "try again later"); the client reconnects and resumes, and its history is intact.
        """
        if self._closed:
            return
        if self._outbox.qsize() >= MAX_OUTBOX:
            self._closed = True
            self.gate.metrics.refused.labels("slow_client").inc()
            self._log.warning("slow_client_closed", session_id=self.session_id, queued=MAX_OUTBOX)
            self._close_task = asyncio.ensure_future(self._close_slow())
            return
        self._outbox.put_nowait(dump(frame))

    async def _close_slow(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            await self.websocket.close(code=1013, reason="too slow: frames piled up")

    def refuse(self, code: str, message: str, in_reply_to: str | None = None, **extra: Any) -> None:
        """Answer a frame that does not reach a session with an error frame."""
        self.gate.metrics.refused.labels(code).inc()
        self.send(self.error_frame(code, message, in_reply_to, **extra))

    # -- the session --------------------------------------------------------------------------

    def attach(self, session_id: str) -> None:
        """Talk to ``session_id`` from now on (its turns are delivered here)."""
        self._cancel_subscription()
        self.session_id = session_id
        self._subscription = self.runtime.subscribe(session_id, self._committed_elsewhere)

    def _cancel_subscription(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def submit(self, event: Event, client_id: str | None) -> bool:
        """Hand ``event`` to the runtime; False (and an error frame) if it was refused."""
        if self.gate.draining:
            self.refuse("shutting_down", "the server is shutting down; resend later", client_id)
            return False
        key = id(event)
        self._pending[key] = (event, client_id, time.perf_counter())
        try:
            future = self.runtime.submit(event)
        except RuntimeStoppedError:
            del self._pending[key]
            self.refuse("shutting_down", "the server is shutting down; resend later", client_id)
            return False
        self.gate.turn_started()
        self.gate.metrics.events.labels(_KIND_NAME[event.kind], self.protocol).inc()
        future.add_done_callback(partial(self._settled_elsewhere, event))
        if event.kind is not _OPEN and not (future.done() and future.exception() is not None):
            ack = self.ack_frame(client_id)
            if ack is not None:
                self.send(ack)
        if self.typing_frames and self._typing is None and not self._typing_shown:
            self._typing = self._loop.call_later(TYPING_AFTER, self._typing_on)
        return True

    # Called on a session's worker thread: hand over to the loop, never block.
    def _committed_elsewhere(self, event: Event, replies: list[str]) -> None:
        self._call_soon(self._committed, event, replies)

    def _settled_elsewhere(self, event: Event, future: Future[list[str]]) -> None:
        self._call_soon(self._settled, event, future)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(callback, *args)

    # On the loop, in turn order.
    def _committed(self, event: Event, replies: list[str]) -> None:
        entry = self._pending.pop(id(event), None)
        in_reply_to = None
        if entry is not None:
            in_reply_to = entry[1]
            self._ended(entry[2])
        if replies or event.kind is not _OPEN:  # an opening with nothing to say: no frame
            for frame in self.replies_frame(in_reply_to, replies):
                self.send(frame)

    def _settled(self, event: Event, future: Future[list[str]]) -> None:
        entry = self._pending.pop(id(event), None)
        if entry is None:
            return  # committed: its replies went out with _committed
        _, client_id, started = entry
        self._ended(started)
        exc = future.exception()
        if exc is None:  # a resend of a committed id: the stored replies, not published
            typed_result = getattr(future, "typed_result", None)
            replies = typed_result() if typed_result is not None else typed(future.result())
            for frame in self.replies_frame(client_id, replies):
                self.send(frame)
            return
        code = error_code(exc)
        self.gate.metrics.turn_failures.labels(code).inc()
        extra = {"retry_after": 1.0} if code == "overloaded" else {}
        self.send(self.error_frame(code, describe_exception(exc), client_id, **extra))

    def _ended(self, started: float) -> None:
        self.gate.turn_ended()
        self.gate.metrics.latency.labels(self.protocol).observe(time.perf_counter() - started)
        if not self._pending and self.typing_frames:
            if self._typing is not None:
                self._typing.cancel()
                self._typing = None
            if self._typing_shown:
                self._typing_shown = False
                self.send({"type": "typing", "on": False})

    def _typing_on(self) -> None:
        self._typing = None
        if self._pending and not self._closed:
            self._typing_shown = True
            self.send({"type": "typing", "on": True})
