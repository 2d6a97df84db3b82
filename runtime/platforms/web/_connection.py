"""One WebSocket connection: its frames in, its session's turns out, in turn order.

A connection talks to one session at a time. It subscribes to the session
(``Runtime.subscribe``), so every committed turn reaches it in turn order, whoever sent the
event: this connection, an HTTP webhook, another device on the same token. Each event it
submits itself is remembered until its turn settles, so its replies go out marked with the
client's id and a failed turn becomes an ``error`` frame with that id.

A session's worker thread calls the subscription right after each commit, then the future's
done callback, in turn order. A turn this connection sent is delivered through its future
(which also carries a failure or a resend's stored replies), any other through the
subscription: one hand-over to the loop per turn either way, through the gateway's
``LoopInbox`` (in order, one loop wake-up per batch), so the loop sees the turns in turn order
too. The loop never waits on a turn. Frames go out through one queue and one writer task, in
the order they were made.

Subclasses speak a protocol: :meth:`on_text` handles one client frame; ``replies_frame``,
``error_frame`` and ``ack_frame`` shape what goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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
from runtime.platforms.web._gate import TYPING_AFTER, Gate, error_code
from runtime.subscriptions import Subscription

__all__ = ["Connection"]

MAX_OUTBOX = 10_000
"""Frames waiting for a client that does not read them before its connection is closed."""

MAX_OUTBOX_BYTES = 32 * 1024 * 1024
"""Bytes of frames waiting for such a client before its connection is closed (replies with
files and images are large: a count alone does not bound the memory)."""

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
        # Frames cost loop time by size (a 12 MB file frame: ~20 ms to parse and check).
        self.bytes_limiter = gate.byte_limiter()
        self._inbox = gate.inbox()
        self._loop_thread = threading.get_ident()
        # Keys of this connection's turns whose commit was handed over by the subscription
        # (sessions' threads add and remove them; see _committed_elsewhere).
        self._delivered: set[int] = set()
        # (frame text, the turn it acknowledges, the turn it answers): see _write.
        self._outbox: asyncio.Queue[tuple[str, int, int] | None] = asyncio.Queue()
        self._subscription: Subscription | None = None
        # id(event) -> (event, client id, start time, turn number): this connection's turns
        # not settled yet. Only the loop changes it; a session's thread only looks keys up.
        self._pending: dict[int, tuple[Event, str | None, float, int]] = {}
        self._turns = 0
        self._typing_shown = False
        metrics = gate.metrics
        self._events_counted = {
            kind: metrics.events.labels(kind.value, self.protocol) for kind in TurnKind
        }
        self._latency = metrics.latency.labels(self.protocol)
        self._closed = False
        self._queued_bytes = 0  # characters of the frames in the outbox (about their bytes)
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
        self.gate.opened(self)
        writer = asyncio.create_task(self._write())
        try:
            await self.on_open()
            await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            gauge.dec()
            self.gate.closed(self)
            self._closed = True
            self._cancel_subscription()
            self.gate.typing.unwatch(self)
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
            wait = self.bytes_limiter.take(len(text)) or self.limiter.take()
            if wait:
                self.refuse(
                    "rate_limited",
                    "too many frames: slow down and resend",
                    retry_after=round(wait, 3),
                )
                continue
            await self.on_text(text)

    async def _write(self) -> None:
        """Send queued frames in order; an ``ack`` whose turn's answer is queued too is left
        out (the answer implies it): under load that saves a frame per message."""
        send = self.websocket.send_text
        outbox = self._outbox
        while True:
            batch = [await outbox.get()]
            while not outbox.empty():
                batch.append(outbox.get_nowait())
            answered = {item[2] for item in batch if item is not None and item[2]}
            try:
                for item in batch:
                    if item is None:
                        return
                    text, acks, _ = item
                    self._queued_bytes -= len(text)
                    if acks and acks in answered:
                        continue
                    try:
                        await send(text)
                    except Exception:  # the client is gone: drop what is left
                        self._closed = True
                        return
            finally:
                for _ in batch:
                    outbox.task_done()
                if self._closed:  # nobody will write what is left: let flush() return
                    while not outbox.empty():
                        outbox.get_nowait()
                        outbox.task_done()

    async def flush(self) -> None:
        """Wait until every frame queued so far is written (or the client is gone)."""
        if not self._closed:
            await self._outbox.join()

    def send(self, frame: dict[str, Any], *, acks: int = 0, answers: int = 0) -> None:
        """Queue one frame for the client (``acks``/``answers``: the turn number it
        acknowledges or answers, for :meth:`_write`).

        A client that reads nothing while its session keeps replying would make the queue
        grow without end: past :data:`MAX_OUTBOX` frames or :data:`MAX_OUTBOX_BYTES` the
        connection is closed (code 1013, "try again later"); the client reconnects and
        resumes, and its history is intact. One frame alone is always let through.
        """
        if self._closed:
            return
        text = dump(frame)
        queued = self._outbox.qsize()
        if queued and (queued >= MAX_OUTBOX or self._queued_bytes + len(text) > MAX_OUTBOX_BYTES):
            self._closed = True
            self.gate.metrics.refused.labels("slow_client").inc()
            self._log.warning(
                "slow_client_closed",
                session_id=self.session_id,
                queued=queued,
                queued_bytes=self._queued_bytes,
            )
            self._close_task = asyncio.ensure_future(self._close_slow())
            return
        self._queued_bytes += len(text)
        self._outbox.put_nowait((text, acks, answers))

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
        self._turns += 1
        turn = self._turns
        pending = self._pending
        pending[key] = (event, client_id, time.perf_counter(), turn)
        try:
            future = self.runtime.submit(event)
        except RuntimeStoppedError:
            del pending[key]
            self.refuse("shutting_down", "the server is shutting down; resend later", client_id)
            return False
        self.gate.turn_started()
        self._events_counted[event.kind].inc()
        future.add_done_callback(partial(self._settled_elsewhere, event))
        if event.kind is not _OPEN and not (future.done() and future.exception() is not None):
            ack = self.ack_frame(client_id)
            if ack is not None:
                self.send(ack, acks=turn)
        if self.typing_frames and len(pending) == 1:
            self.gate.typing.watch(self)
        return True

    # Called on a session's worker thread: hand over to the loop, never block. For a turn it
    # sent, the connection learns of the commit here first (the future's callback comes next,
    # on the same thread); both paths hand over through the inbox, so the loop sees turns in
    # the order the session committed them. A committed turn of ours is handed over here and
    # its future's callback then does nothing: one hand-over per turn.
    def _committed_elsewhere(self, event: Event, replies: list[str]) -> None:
        key = id(event)
        if key in self._pending:  # read-only here; only the loop changes it
            self._delivered.add(key)
            self._call_soon(self._committed_own, event, replies)
        else:
            self._call_soon(self._committed, event, replies)

    def _settled_elsewhere(self, event: Event, future: Future[list[str]]) -> None:
        key = id(event)
        if key in self._delivered:  # committed: _committed_elsewhere handed it over
            self._delivered.discard(key)
            return
        if threading.get_ident() == self._loop_thread:
            # The future settled before submit() added this callback, which then runs at
            # once, on the loop: deliver now, ahead of any later turn already in the inbox
            # (and of this connection's earlier turns still there: only a refusal at the door
            # or a resend answered from memory settles that early).
            self._settled(event, future)
        else:
            self._call_soon(self._settled, event, future)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        self._inbox.call(callback, *args)

    # On the loop, in turn order.
    def _committed(self, event: Event, replies: list[str]) -> None:
        """A turn this connection did not send (a webhook, another device, the opening)."""
        if replies or event.kind is not _OPEN:  # an opening with nothing to say: no frame
            for frame in self.replies_frame(None, replies):
                self.send(frame)

    def _committed_own(self, event: Event, replies: list[str]) -> None:
        """A turn this connection sent was committed: its replies, marked with its id."""
        entry = self._pending.pop(id(event), None)
        if entry is None:
            return
        _, client_id, started, turn = entry
        try:
            if replies or event.kind is not _OPEN or client_id is not None:
                for frame in self.replies_frame(client_id, replies):
                    self.send(frame, answers=turn)
        finally:
            self._ended(started)

    def _settled(self, event: Event, future: Future[list[str]]) -> None:
        """A turn this connection sent failed, or was a resend answered from memory."""
        entry = self._pending.pop(id(event), None)
        if entry is None:
            return
        _, client_id, started, turn = entry
        try:
            exc = (
                future.exception()
                if not future.cancelled()
                else RuntimeStoppedError("the turn was cancelled before it ran")
            )
            if exc is None:  # a resend of a committed message_id: the stored replies
                typed_result = getattr(future, "typed_result", None)
                replies = typed_result() if typed_result is not None else future.result()
                for frame in self.replies_frame(client_id, replies):
                    self.send(frame, answers=turn)
            else:
                code = error_code(exc)
                self.gate.metrics.turn_failures.labels(code).inc()
                extra = {"retry_after": 1.0} if code == "overloaded" else {}
                message = describe_exception(exc)
                self.send(self.error_frame(code, message, client_id, **extra), answers=turn)
        finally:
            self._ended(started)

    def _ended(self, started: float) -> None:
        self.gate.turn_ended()
        self._latency.observe(time.perf_counter() - started)
        if not self._pending and self.typing_frames:
            self.gate.typing.unwatch(self)
            if self._typing_shown:
                self._typing_shown = False
                self.send({"type": "typing", "on": False})

    def check_typing(self, now: float) -> None:
        """Tell the client the bot is typing if its oldest turn has run TYPING_AFTER s."""
        if self._typing_shown or self._closed or not self._pending:
            return
        oldest = next(iter(self._pending.values()))[2]
        if now - oldest >= TYPING_AFTER:
            self._typing_shown = True
            self.send({"type": "typing", "on": True})
