"""The uvicorn internals `HighWaterWebSocketProtocol` leans on, and its flow control.

uvicorn is pinned in pyproject.toml; when an upgrade changes what these tests pin, read
uvicorn's new ``WebSocketsSansIOProtocol`` and adapt ``runtime/platforms/web/_uvicorn.py``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from uvicorn import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import Server, ServerState
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from runtime.platforms.web._uvicorn import HIGH_BYTES, HIGH_MESSAGES, HighWaterWebSocketProtocol


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


class _Transport:
    """What the protocol calls on asyncio's transport, counted."""

    def __init__(self) -> None:
        self.pauses = 0
        self.resumes = 0
        self.written: list[bytes] = []
        self.closed = False

    def pause_reading(self) -> None:
        self.pauses += 1

    def resume_reading(self) -> None:
        self.resumes += 1

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_uvicorn_still_pauses_after_each_message_through_the_attributes_we_use() -> None:
    queue_message = inspect.getsource(WebSocketsSansIOProtocol.send_receive_event_to_app)
    assert "self.frames" in queue_message
    assert "if self.close_sent" in queue_message
    assert "self.queue.put_nowait" in queue_message
    assert "if not self.read_paused:" in queue_message
    assert "self.transport.pause_reading()" in queue_message
    receive = inspect.getsource(WebSocketsSansIOProtocol.receive)
    assert "await self.queue.get()" in receive
    assert "self.transport.resume_reading()" in receive


@pytest.fixture
def protocol() -> Iterator[tuple[HighWaterWebSocketProtocol, _Transport]]:
    loop = asyncio.new_event_loop()
    config = Config(app=_app, ws=HighWaterWebSocketProtocol)
    config.load()
    proto = HighWaterWebSocketProtocol(config, ServerState(), app_state={}, _loop=loop)
    transport = _Transport()
    proto.transport = transport  # type: ignore[assignment]
    proto.curr_msg_data_type = "text"
    yield proto, transport
    loop.close()


def _receive_message(proto: HighWaterWebSocketProtocol, data: bytes) -> None:
    proto.frames = [data]
    proto.send_receive_event_to_app()


def test_reading_pauses_at_the_high_water_mark_and_resumes_at_a_quarter(
    protocol: tuple[HighWaterWebSocketProtocol, _Transport],
) -> None:
    proto, transport = protocol
    for _ in range(HIGH_MESSAGES - 1):
        _receive_message(proto, b'{"type": "message"}')
    assert transport.pauses == 0  # uvicorn alone would have paused at the first
    _receive_message(proto, b'{"type": "message"}')
    assert (transport.pauses, proto.read_paused) == (1, True)

    async def drain_to_a_quarter() -> None:
        while proto.queue.qsize() > HIGH_MESSAGES // 4:
            assert transport.resumes == 0
            message = await proto.receive()
            assert message == {"type": "websocket.receive", "text": '{"type": "message"}'}

    proto.loop.run_until_complete(drain_to_a_quarter())
    assert (transport.resumes, proto.read_paused) == (1, False)


def test_reading_pauses_when_the_waiting_bytes_pass_the_mark(
    protocol: tuple[HighWaterWebSocketProtocol, _Transport],
) -> None:
    proto, transport = protocol
    _receive_message(proto, b"x" * (HIGH_BYTES - 10))
    assert transport.pauses == 0
    _receive_message(proto, b"x" * 20)
    assert transport.pauses == 1
    proto.loop.run_until_complete(proto.receive())
    proto.loop.run_until_complete(proto.receive())
    assert (transport.resumes, proto.queued_bytes) == (1, 0)


def test_uvicorn_still_closes_on_the_peers_close_and_waits_for_connections_on_shutdown() -> None:
    handle_close = inspect.getsource(WebSocketsSansIOProtocol.handle_close)
    assert "if self.close_sent:" in handle_close
    assert "self.close_timer.cancel()" in handle_close
    assert "self.transport.close()" in handle_close
    run_asgi = inspect.getsource(WebSocketsSansIOProtocol.run_asgi)
    assert "if self.close_timer is None:" in run_asgi
    send = inspect.getsource(WebSocketsSansIOProtocol.send)
    assert "elif not self.close_sent" in send
    wait = inspect.getsource(Server._wait_tasks_to_complete)
    assert "while self.server_state.connections" in wait


def test_a_shutdown_closes_the_socket_only_after_the_clients_close_frame(
    protocol: tuple[HighWaterWebSocketProtocol, _Transport],
) -> None:
    proto, transport = protocol
    client = ClientProtocol(parse_uri("ws://server/ws"))
    # The opening handshake, on websockets' side of the protocol only (no app runs here).
    client.send_request(client.connect())
    proto.conn.receive_data(b"".join(client.data_to_send()))
    [request] = proto.conn.events_received()
    proto.conn.send_response(proto.conn.accept(request))  # type: ignore[arg-type]
    client.receive_data(b"".join(proto.conn.data_to_send()))
    assert (proto.conn.state, client.state) == (State.OPEN, State.OPEN)
    proto.handshake_complete = True
    proto.read_paused = True  # at the high-water mark
    proto.shutdown()
    # uvicorn's own shutdown closed the socket here: with bytes from the client still unread,
    # the kernel resets the connection, dropping the replies the client has not read yet.
    assert not transport.closed
    assert (transport.resumes, proto.read_paused) == (1, False)  # it reads on
    assert proto.queue.get_nowait() == {"type": "websocket.disconnect", "code": 1012}
    # What the client sends before it reads the close is read and dropped.
    client.send_text(b'{"type": "message", "text": "hi", "id": "late"}')
    proto.data_received(b"".join(client.data_to_send()))
    assert proto.queue.empty()
    assert not transport.closed
    # The client reads the close (1012) and answers it: now the socket closes, read to the end.
    client.receive_data(b"".join(transport.written))
    assert client.close_rcvd is not None
    assert client.close_rcvd.code == 1012
    proto.data_received(b"".join(client.data_to_send()))
    assert transport.closed
    assert proto.close_timer is None
