"""One load-test client: a WebSocket connection on an event loop, driven by callbacks.

A client is an ``asyncio.Protocol``: bytes in, frames cut by ``_ws_wire``, then a plain
method call per frame, on uvloop when it is installed. No task, queue or future per connection
or per frame: the client shares the machine with the server it measures. Measured against the
same server: 63 us of client CPU per message with the ``websockets.asyncio`` client, 44 us
with this protocol around websockets' sans-I/O ``ClientProtocol``, 35 us with ``_ws_wire``,
30 us with the cyclic GC off during the message phase.

Frames are parsed only as far as needed: ``ack`` and ``typing`` frames are recognised by
their first bytes and dropped unparsed (a server that orders keys differently only costs a
parse); everything else goes through ``orjson``. Replies are kept, as raw frames, only when
the run checks isolation afterwards.

A client: connect (TCP, WebSocket handshake), ``resume`` with a null token, wait for its
``session`` frame, then wait for the go. Then a closed loop: send a message with a unique id,
wait for the ``replies`` frame naming that id, send the next. An ``error`` frame naming it
settles it too. A ``rate_limited`` frame (the server sends it before reading the frame, so
without an id) names the one frame in flight, which is resent as it was (same id) after
``retry_after`` seconds. A reply that does not come within the timeout is lost, and the client
gives up (a late answer would arrive while another message is pending).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import orjson

from runtime.testing._ws_wire import (
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    WireError,
    check_response,
    encode,
    handshake,
)

if TYPE_CHECKING:
    from runtime.testing._loadtest_worker import Worker

__all__ = [
    "Client",
    "ClientResult",
    "Pacer",
    "message_id",
    "session_id_of",
]

RESUME = b'{"type":"resume","token":null}'
_SKIP = (b'{"type":"ack"', b'{"type":"typing"')  # frames the loop never needs to read
_NORMAL_CLOSURE = (1000).to_bytes(2, "big")
_MAX_HEAD = 64 * 1024


def session_id_of(token: object) -> str | None:
    """Return the session id the gateway's token names: ``web-<key>`` for ``<key>.<tag>``.

    That is how ``runtime.platforms.web._tokens`` derives it; the solo runs of the isolation
    check use the same id, so a bot that mentions it replies alike. None for another shape.
    """
    if not isinstance(token, str):
        return None
    key, dot, _ = token.partition(".")
    return f"web-{key}" if dot and key else None


def message_id(client: int, step: int) -> str:
    """Return the id of a client's step: unique in the run, so a crossed reply shows."""
    return f"{client}-{step}"


@dataclass
class ClientResult:
    """What one client saw (raw frames only when replies are kept).

    Attributes:
        number: the client's run-wide number.
        connected: whether it got its ``session`` frame.
        session_id: its session's id, as the gateway derives it from the token, or None.
        failure: why it could not connect or stopped early, else None.
        sent: messages sent (resends of a throttled frame not counted).
        answered: messages answered by a ``replies`` frame.
        opening: the ``replies`` and ``error`` frames with a null ``in_reply_to`` (the
            session's opening).
        replies: per settled step, its replies frame, or ``b""`` when an error settled it.
        step_errors: per settled step, the error code that settled it, or None.
    """

    number: int
    connected: bool = False
    session_id: str | None = None
    failure: str | None = None
    sent: int = 0
    answered: int = 0
    opening: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    step_errors: list[str | None] = field(default_factory=list)


class Pacer:
    """A token bucket in front of a worker's sends: ``rate`` per second on average.

    Clients that may not send yet queue, in order; a timer releases them as tokens come, every
    millisecond or so. The bucket holds 10 ms of tokens: a timer that fires late catches up
    (with 1 ms, late timers capped a 1,180/s pacer at 627/s), and an idle spell cannot turn
    into a burst of more than 10 ms of sends.
    """

    _TICK = 0.001
    _BURST_SECONDS = 0.01

    def __init__(self, loop: asyncio.AbstractEventLoop, rate: float) -> None:
        self._loop = loop
        self._rate = rate
        self._burst = max(1.0, rate * self._BURST_SECONDS)
        self._tokens = self._burst
        self._last = time.perf_counter()
        self._waiting: deque[Callable[[], None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def send(self, send_now: Callable[[], None]) -> None:
        """Call ``send_now`` as soon as the rate allows (at once if it does now)."""
        if not self._waiting:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                send_now()
                return
        self._waiting.append(send_now)
        if self._timer is None:
            self._timer = self._loop.call_later(self._TICK, self._release)

    def _refill(self) -> None:
        now = time.perf_counter()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def _release(self) -> None:
        self._timer = None
        self._refill()
        waiting = self._waiting
        while waiting and self._tokens >= 1.0:
            self._tokens -= 1.0
            waiting.popleft()()
        if waiting:
            self._timer = self._loop.call_later(self._TICK, self._release)


class Client(asyncio.Protocol):
    """One WebSocket client (see module doc); the worker calls :meth:`start` at the go."""

    def __init__(self, worker: Worker, number: int, bodies: Sequence[bytes]) -> None:
        self.worker = worker
        self.result = ClientResult(number)
        self.bodies = bodies
        self.transport: asyncio.Transport | None = None
        self.head: bytearray | None = bytearray()  # the handshake's answer; None once open
        self.accept = b""
        self.reader = FrameReader()
        self.step = 0
        self.pending: str | None = None  # the id waiting for its replies
        self.frame = b""  # the pending step's frame, for a resend
        self.first_sent = 0.0  # first send of the pending step (latency counts from there)
        self.last_sent = 0.0  # last send of it (the timeout counts from there)
        self.connect_began = 0.0
        self.done = False

    # -- transport ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)
        if self.done:  # given up while connecting
            self.transport.close()
            return
        request, self.accept = handshake(self.worker.host_header, self.worker.path)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self._on_handshake(data)
            return
        try:
            messages = self.reader.feed(data)
        except WireError as exc:
            self._stop(f"protocol error: {exc}")
            return
        for opcode, payload in messages:
            if opcode == TEXT:
                self._on_text(payload)
            elif opcode == PING:
                self._write(encode(payload, PONG))
            elif opcode == CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self._stop(f"the server closed the connection ({code})")
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.done:
            self._stop(f"connection lost: {exc}" if exc else "the server closed the connection")
        self.worker.closed(self)

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _send(self, frame: bytes) -> None:
        if self.transport is not None:
            self.transport.write(encode(frame))

    # -- connecting ---------------------------------------------------------------------

    def _on_handshake(self, data: bytes) -> None:
        head = self.head
        assert head is not None
        head += data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _MAX_HEAD:
                self._stop("the server's handshake answer is too long")
            return
        try:
            check_response(bytes(head[:end]), self.accept)
        except WireError as exc:
            self._stop(f"the WebSocket handshake failed: {exc}")
            return
        self.head = None
        self._send(RESUME)
        rest = bytes(head[end + 4 :])
        if rest:
            self.data_received(rest)

    def failed_to_connect(self, exc: BaseException) -> None:
        self._stop(f"cannot connect: {exc}")

    # -- frames -------------------------------------------------------------------------

    def _on_text(self, data: bytes) -> None:
        if data.startswith(_SKIP):
            return
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._stop(f"protocol error: a frame that is not JSON: {exc}")
            return
        if type(frame) is not dict:
            self._stop("protocol error: a frame that is not a JSON object")
            return
        kind = frame.get("type")
        if kind == "replies":
            replying_to = frame.get("in_reply_to")
            if replying_to is None:
                self.worker.unsolicited += 1
                if self.worker.keep_replies:
                    self.result.opening.append(data)
            elif replying_to == self.pending:
                self.worker.latencies.append(time.perf_counter() - self.first_sent)
                self.result.answered += 1
                self._settled(data, None)
            else:
                self.worker.crossed += 1
        elif kind == "error":
            self._on_error(frame, data)
        elif kind == "session" and not self.result.connected:
            self.result.connected = True
            self.result.session_id = session_id_of(frame.get("token"))
            self.worker.connected(self, time.perf_counter() - self.connect_began)

    def _on_error(self, frame: dict[str, object], data: bytes) -> None:
        replying_to = frame.get("in_reply_to")
        code = str(frame.get("code"))
        if replying_to is not None and replying_to != self.pending:
            self.worker.crossed += 1
            return
        if code == "rate_limited":
            # Refused before it was read, so usually without its id; a closed loop has one
            # frame in flight (the message, or the resume), and that is the one to resend.
            self.worker.throttled += 1
            retry_after = frame.get("retry_after")
            wait = float(retry_after) if isinstance(retry_after, int | float) else 0.05
            self.worker.loop.call_later(wait, self._resend)
            return
        self.worker.errors[code] += 1
        if replying_to is not None:
            self._settled(b"", code)
        elif not self.result.connected:  # refused before its session: no use going on
            self._stop(f"refused: {code}: {frame.get('message')}")
        elif self.worker.keep_replies:  # the opening's turn failed, say
            self.result.opening.append(data)

    # -- the closed loop ----------------------------------------------------------------

    def start(self) -> None:
        """Send the first message (the go of the message phase)."""
        self._next()

    def _next(self) -> None:
        if self.step == len(self.bodies):
            self._stop(None)
            return
        pacer = self.worker.pacer
        if pacer is None:
            self._send_step()
        else:
            pacer.send(self._send_step)

    def _send_step(self) -> None:
        if self.done:
            return
        body = self.bodies[self.step]
        self.pending = ident = message_id(self.result.number, self.step)
        # The body is a serialised JSON object: the id goes in before its closing brace.
        self.frame = b"".join((body[:-1], b',"id":"', ident.encode(), b'"}'))
        self.first_sent = self.last_sent = time.perf_counter()
        self.result.sent += 1
        self._send(self.frame)

    def _resend(self) -> None:
        if self.done:
            return
        if self.pending is not None:
            self.last_sent = time.perf_counter()
            self._send(self.frame)
        elif not self.result.connected:
            self._send(RESUME)

    def _settled(self, replies: bytes, error: str | None) -> None:
        if self.worker.keep_replies:
            self.result.replies.append(replies)
            self.result.step_errors.append(error)
        self.pending = None
        self.step += 1
        self._next()

    def check_overdue(self, now: float, timeout: float) -> None:
        """Give up if the client has waited more than ``timeout`` for its reply or session."""
        if self.done:
            return
        if self.pending is not None:
            if now - self.last_sent > timeout:
                self._stop(f"no reply to {self.pending} within {timeout:g} s")
        elif (
            not self.result.connected
            and self.transport is not None
            and now - self.connect_began > timeout
        ):
            self._stop(f"no session frame within {timeout:g} s")

    def stop_at_end(self) -> None:
        """Close the connection at the end of the run (unfinished: "the run ended")."""
        self._stop(None if self.step == len(self.bodies) else "the run ended")

    def _stop(self, failure: str | None) -> None:
        """Leave: done (failure None) or given up; close the connection politely."""
        if self.done:
            return
        self.done = True
        if failure is not None and self.result.failure is None:
            self.result.failure = failure
        if self.pending is not None:  # sent and never answered: that is what lost means
            self.worker.lost += 1
        transport = self.transport
        if transport is not None:
            if self.head is None:  # open: say goodbye (code 1000) before closing
                transport.write(encode(_NORMAL_CLOSURE, CLOSE))
            transport.close()
        self.worker.finished(self)
