"""The ``/ws`` protocol against a real uvicorn server, with a real WebSocket client."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from _bots import make_web_bot
from _web import LiveServer, WsClient, live_server
from websockets.exceptions import InvalidStatus

from runtime import Runtime
from runtime.platforms.web import WebSettings, _connection


@pytest.fixture
def web() -> Iterator[LiveServer]:
    with Runtime(make_web_bot()) as rt, live_server(rt) as srv:
        yield srv


def test_a_slow_turn_is_acknowledged_then_shown_typing_then_answered() -> None:
    release = threading.Event()
    with (
        Runtime(make_web_bot(release)) as rt,
        live_server(rt) as srv,
        WsClient(srv.ws_url + "/ws") as client,
    ):
        client.start()
        client.send({"type": "message", "text": "wait for me", "id": "slow"})
        frames = [client.recv()]  # the opening's replies or the ack, whichever first
        while frames[-1].get("type") != "typing":
            frames.append(client.recv())
        assert {"type": "ack", "in_reply_to": "slow"} in frames
        assert frames[-1] == {"type": "typing", "on": True}
        release.set()
        assert client.until("replies", in_reply_to="slow")["replies"][0]["text"] == "done waiting"
        assert client.recv() == {"type": "typing", "on": False}


def test_a_message_is_acknowledged_then_answered_with_its_id(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        session = client.start()
        assert session["resumed"] is False
        assert session["history"] == []
        opening = client.until("replies")
        assert opening == {
            "type": "replies",
            "in_reply_to": None,
            "replies": [{"kind": "text", "text": "Welcome!"}],
        }
        assert client.ask("hello there", "m1") == ["#1 hello there"]
        assert client.ask("again", "m2") == ["#2 again"]


def test_a_first_frame_that_is_not_resume_starts_a_session_and_is_handled(
    web: LiveServer,
) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        client.send({"type": "message", "text": "straight in", "id": "a"})
        assert client.until("session")["resumed"] is False
        assert client.until("replies", in_reply_to="a")["replies"][0]["text"] == "#1 straight in"


def test_a_token_resumes_the_session_and_its_history_after_a_reconnect(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        token = client.start()["token"]
        client.ask("one", "m1")
    with WsClient(web.ws_url + "/ws") as again:
        session = again.start(token)
        assert session["resumed"] is True
        assert [(e["sender"], e["reply"]["text"]) for e in session["history"]] == [
            ("bot", "Welcome!"),
            ("user", "one"),
            ("bot", "#1 one"),
        ]
        assert again.ask("two", "m2") == ["#2 two"]  # the same session's data


def test_a_resent_id_is_answered_from_the_session_without_running_the_bot_again(
    web: LiveServer,
) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        token = client.start()["token"]
        assert client.ask("once", "same-id") == ["#1 once"]
    with WsClient(web.ws_url + "/ws") as again:
        again.start(token)
        assert again.ask("once", "same-id") == ["#1 once"]
        assert again.ask("next", "other-id") == ["#2 next"]  # the resend did not count
    assert web.runtime.stats().duplicates == 1


def test_turns_sent_from_elsewhere_are_pushed_in_turn_order(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        token = client.start()["token"]
        client.until("replies")  # the opening
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(5):
            response = httpx.post(
                web.url + "/api/events", json={"name": "ping", "payload": {"n": n}}, headers=headers
            )
            assert response.status_code == 200, response.text
        pushed = [client.until("replies") for _ in range(5)]
        assert [frame["in_reply_to"] for frame in pushed] == [None] * 5
        assert [frame["replies"][0]["text"] for frame in pushed] == [f"pong {n}" for n in range(5)]


def test_two_connections_on_one_token_both_see_every_turn(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as phone:
        token = phone.start()["token"]
        phone.until("replies")  # the opening, before the laptop subscribes
        with WsClient(web.ws_url + "/ws") as laptop:
            laptop.start(token)
            assert phone.ask("from the phone", "p1") == ["#1 from the phone"]
            seen = laptop.until("replies", in_reply_to=None)
            assert seen["replies"][0]["text"] == "#1 from the phone"


def test_rich_replies_arrive_typed_and_markup_is_sanitised(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        client.start()
        client.send({"type": "message", "text": "show me something rich", "id": "r"})
        replies = client.until("replies", in_reply_to="r")["replies"]
    kinds = [reply["kind"] for reply in replies]
    assert kinds == ["markdown", "html", "options", "location", "json"]
    markdown, html, options, location, data = replies
    assert "<strong>bold</strong>" in markdown["html"]
    assert "<script" not in markdown["html"]
    assert "<script" not in html["html"]
    assert "onclick" not in html["html"]
    assert "<b>hi</b>" in html["html"]
    assert options["content"] == ["yes", "no"]
    assert location["content"] == {"latitude": 46.5, "longitude": 6.6}
    assert data["content"] == {"a": [1, 2]}


def test_a_failed_turn_is_an_error_frame_and_the_connection_goes_on(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        client.start()
        client.send({"type": "message", "text": "break the turn", "id": "b"})
        error = client.until("error", in_reply_to="b")
        assert error["code"] == "bad_value"
        assert "lock" in error["message"]
        assert client.ask("still here", "s") == ["#1 still here"]  # nothing of it committed


def test_a_reply_utf_8_cannot_carry_still_reaches_the_client(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        client.start()
        client.send({"type": "message", "text": "send odd text", "id": "odd"})
        frame = client.until("replies", in_reply_to="odd")
        assert frame["replies"] == [{"kind": "text", "text": "caf\udce9"}]  # JSON's escape
        assert client.ask("after", "a") == ["#1 after"]
    assert web.gate.in_flight == 0  # the turn was counted as ended: a drain would not wait


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "shout", "text": "hi"}', "unknown_type"),
        ('{"text": "no type"}', "unknown_type"),
        ('{"type": "message"}', "bad_frame"),
        ('{"type": "message", "text": 5}', "bad_frame"),
        ('{"type": "message", "text": "x", "id": ""}', "bad_frame"),
        ('{"type": "file", "file": {"name": "a.txt", "base64": "%%%"}}', "bad_frame"),
        ('{"type": "event", "name": "ping", "payload": [1]}', "bad_frame"),
        ('{"type": "resume", "token": 7}', "bad_frame"),
        ('{"type": "resume", "token": "forged.token"}', "bad_token"),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_the_connection_goes_on(
    web: LiveServer, frame: str, code: str
) -> None:
    with WsClient(web.ws_url + "/ws") as client:
        client.start()
        client.send(frame)
        error = client.until("error")
        assert error["code"] == code, error
        assert error["message"]
        assert client.ask("fine", "ok") == ["#1 fine"]


def test_binary_and_oversized_frames_get_error_frames() -> None:
    settings = WebSettings(max_text_chars=10, max_file_bytes=100, max_frame_bytes=1000)
    with (
        Runtime(make_web_bot()) as rt,
        live_server(rt, settings) as srv,
        WsClient(srv.ws_url + "/ws") as client,
    ):
        client.start()
        client.ws.send(b"\x00\x01")
        assert client.until("error")["code"] == "bad_frame"
        client.send({"type": "message", "text": "x" * 11, "id": "long"})
        assert client.until("error", in_reply_to="long")["code"] == "too_large"
        client.send({"type": "message", "text": "y" * 1500})
        assert client.until("error")["code"] == "too_large"
        big_file = {"name": "a.bin", "base64": "QUFB" * 50}
        client.send({"type": "file", "file": big_file, "id": "f"})
        assert client.until("error", in_reply_to="f")["code"] == "too_large"
        assert client.ask("short", "s") == ["#1 short"]


def test_a_connection_over_its_rate_is_told_to_wait() -> None:
    settings = WebSettings(rate=0.001, burst=3)  # three frames, then one per 1000 s
    with Runtime(make_web_bot()) as rt, live_server(rt, settings) as srv:
        with WsClient(srv.ws_url + "/ws") as client:
            client.start()  # the first frame
            assert client.ask("a", "1") == ["#1 a"]
            assert client.ask("b", "2") == ["#2 b"]
            client.send({"type": "message", "text": "c", "id": "3"})
            error = client.until("error")
            assert error["code"] == "rate_limited"
            assert error["retry_after"] > 0
        with WsClient(srv.ws_url + "/ws") as other:  # a limit per connection
            other.start()
            assert other.ask("d", "4") == ["#1 d"]


def test_a_connection_over_its_byte_rate_is_told_to_wait() -> None:
    settings = WebSettings(max_file_bytes=500, max_frame_bytes=1000, byte_rate=0.001)
    text = "x" * 900  # a ~940-byte frame: two fit the burst of 2 x 1000 bytes, not three
    with (
        Runtime(make_web_bot()) as rt,
        live_server(rt, settings) as srv,
        WsClient(srv.ws_url + "/ws") as client,
    ):
        client.start()
        assert client.ask(text, "1") == [f"#1 {text}"]
        assert client.ask(text, "2") == [f"#2 {text}"]
        client.send({"type": "message", "text": text, "id": "3"})
        error = client.until("error")
        assert error["code"] == "rate_limited"
        assert error["retry_after"] > 0


def test_connections_beyond_the_limit_are_refused_with_503() -> None:
    with (
        Runtime(make_web_bot()) as rt,
        live_server(rt, WebSettings(max_connections=2)) as srv,
        WsClient(srv.ws_url + "/ws") as first,
    ):
        first.start()
        with WsClient(srv.ws_url + "/ws") as second:
            second.start()
            with pytest.raises(InvalidStatus) as refused:
                WsClient(srv.ws_url + "/ws")
            assert refused.value.response.status_code == 503
            assert json.loads(refused.value.response.body)["error"] == "too_many_connections"
            assert first.ask("still served", "s") == ["#1 still served"]


def test_new_sessions_are_limited_per_client_address() -> None:
    settings = WebSettings(session_rate=0.001, session_burst=2)
    with Runtime(make_web_bot()) as rt, live_server(rt, settings) as srv:
        with WsClient(srv.ws_url + "/ws") as first, WsClient(srv.ws_url + "/ws") as second:
            first.start()
            token = second.start()["token"]
            with WsClient(srv.ws_url + "/ws") as third:
                third.send({"type": "message", "text": "hi", "id": "t"})
                error = third.until("error")
                assert error["code"] == "rate_limited"
                assert error["retry_after"] > 0
                assert third.start(token)["resumed"] is True  # resuming is not a new session
        assert len(rt.session_ids()) == 2


def test_browser_pages_from_other_origins_are_refused_at_the_handshake(web: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        WsClient(web.ws_url + "/ws", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    own = web.url  # the gateway's own pages may
    with WsClient(web.ws_url + "/ws", origin=own) as client:
        assert client.start()["resumed"] is False


def test_allowed_origins_may_connect() -> None:
    settings = WebSettings(allowed_origins=("https://chat.example.com",))
    with Runtime(make_web_bot()) as rt, live_server(rt, settings) as srv:
        with WsClient(srv.ws_url + "/ws", origin="https://chat.example.com") as client:
            assert client.start()["type"] == "session"
        with pytest.raises(InvalidStatus):
            WsClient(srv.ws_url + "/ws", origin="https://other.example.com")


def test_a_token_from_another_server_secret_is_refused() -> None:
    with Runtime(make_web_bot()) as rt:
        with (
            live_server(rt, WebSettings(secret=b"a" * 32)) as first,
            WsClient(first.ws_url + "/ws") as client,
        ):
            token = client.start()["token"]
        with (
            live_server(rt, WebSettings(secret=b"b" * 32)) as second,
            WsClient(second.ws_url + "/ws") as client,
        ):
            client.send({"type": "resume", "token": token})
            assert client.until("error")["code"] == "bad_token"
        with (
            live_server(rt, WebSettings(secret=b"a" * 32)) as same_key,
            WsClient(same_key.ws_url + "/ws") as client,
        ):
            assert client.start(token)["resumed"] is True


def test_a_token_cannot_be_bent_to_reach_another_session(web: LiveServer) -> None:
    with WsClient(web.ws_url + "/ws") as alice:
        alice_token = alice.start()["token"]
        alice.ask("alice's secret", "a")
    with WsClient(web.ws_url + "/ws") as mallory:
        mallory_token = mallory.start()["token"]
        tag = mallory_token.split(".")[1]
        alice_key = alice_token.split(".")[0]
        for forged in (f"{alice_key}.{tag}", alice_key, f"{alice_key}.", alice_token[:-1] + "x"):
            mallory.send({"type": "resume", "token": forged})
            assert mallory.until("error")["code"] == "bad_token"
        history = httpx.get(
            web.url + "/api/history", headers={"Authorization": f"Bearer {alice_key}.{tag}"}
        )
        assert history.status_code == 401
        assert "alice" not in history.text
        assert json.loads(history.text)["error"] == "bad_token"


class SilentClient:
    """A WebSocket client on a raw socket that sends frames and never reads after the handshake
    (a small receive buffer, so the server's frames pile up on its side)."""

    def __init__(self, ws_url: str) -> None:
        host, port = ws_url.removeprefix("ws://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)  # byte by byte: read nothing past the handshake
        assert response.startswith(b"HTTP/1.1 101"), response

    def send(self, frame: dict[str, object]) -> None:
        payload = json.dumps(frame).encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(("bound", "value"), [("MAX_OUTBOX", 8), ("MAX_OUTBOX_BYTES", 1_000_000)])
def test_a_client_that_reads_nothing_is_closed_and_can_resume(
    monkeypatch: pytest.MonkeyPatch, bound: str, value: int
) -> None:
    monkeypatch.setattr(_connection, bound, value)  # frames, or bytes (~100 KB a frame)
    settings = WebSettings(max_text_chars=100_000, rate=1000.0, burst=1000)
    big = "x" * 100_000  # each pushed reply is ~100 KB: socket buffers fill after a few
    with Runtime(make_web_bot()) as rt, live_server(rt, settings) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            token = http.post("/api/sessions").json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            sleepy = SilentClient(srv.ws_url)
            try:
                sleepy.send({"type": "resume", "token": token})
                closed, sent = 0.0, 0
                while not closed and sent < 300:  # 300 pushed replies: 30 MB if never closed
                    sent += 1
                    response = http.post("/api/messages", json={"text": big}, headers=auth)
                    assert response.status_code == 200
                    closed = srv.gate.metrics.refused.labels("slow_client")._value.get()
            finally:
                sleepy.close()
        assert closed == 1, "the server kept queueing frames for a client that reads none"
        with WsClient(srv.ws_url + "/ws", max_size=None) as awake:
            session = awake.start(token)
            assert session["resumed"] is True
            assert len(session["history"]) == 1 + 2 * sent  # nothing of the session was lost
