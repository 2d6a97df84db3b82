"""The HTTP API, /health, /metrics and the OpenAPI document, against a real server."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from _bots import make_web_bot
from _web import LiveServer, WsClient, live_server
from prometheus_client.parser import text_string_to_metric_families

from runtime import Runtime
from runtime.platforms.web import WebSettings
from runtime.platforms.web._gate import Gate


@pytest.fixture
def web() -> Iterator[LiveServer]:
    with Runtime(make_web_bot()) as rt, live_server(rt) as srv:
        yield srv


@pytest.fixture
def http(web: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.url, timeout=10) as client:
        yield client


def start(http: httpx.Client) -> dict[str, str]:
    response = http.post("/api/sessions")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["replies"] == [{"kind": "text", "text": "Welcome!", "content": None, "html": None}]
    return {"Authorization": f"Bearer {body['token']}"}


def texts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [reply["text"] for reply in response.json()["replies"]]


def test_a_conversation_over_http(http: httpx.Client) -> None:
    auth = start(http)
    assert texts(http.post("/api/messages", json={"text": "one"}, headers=auth)) == ["#1 one"]
    assert texts(http.post("/api/messages", json={"text": "two"}, headers=auth)) == ["#2 two"]
    history = http.get("/api/history", headers=auth).json()["history"]
    assert [(e["sender"], e["reply"]["text"]) for e in history] == [
        ("bot", "Welcome!"),
        ("user", "one"),
        ("bot", "#1 one"),
        ("user", "two"),
        ("bot", "#2 two"),
    ]
    assert texts(http.post("/api/reset", headers=auth)) == ["Welcome!"]
    assert texts(
        http.post("/api/events", json={"name": "ping", "payload": {"n": 3}}, headers=auth)
    ) == ["pong 3"]


def test_a_message_id_makes_a_resend_return_the_same_replies(http: httpx.Client) -> None:
    auth = start(http)
    body = {"text": "hello", "message_id": "abc"}
    first = texts(http.post("/api/messages", json=body, headers=auth))
    again = texts(http.post("/api/messages", json=body, headers=auth))
    assert first == again == ["#1 hello"]
    assert texts(http.post("/api/messages", json={"text": "x"}, headers=auth)) == ["#2 x"]


def test_files_reach_the_session(http: httpx.Client) -> None:
    auth = start(http)
    data = base64.b64encode(b"hello").decode()
    response = http.post("/api/files", json={"name": "a.txt", "base64": data}, headers=auth)
    assert response.status_code == 200, response.text
    bad = http.post("/api/files", json={"name": "a.txt", "base64": "%%"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_request"


def test_rich_replies_come_typed_over_http(http: httpx.Client) -> None:
    auth = start(http)
    response = http.post("/api/messages", json={"text": "show me something rich"}, headers=auth)
    replies = response.json()["replies"]
    assert [r["kind"] for r in replies] == ["markdown", "html", "options", "location", "json"]
    assert "<script" not in replies[0]["html"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "bad_token"),
        ({"Authorization": "Bearer nonsense"}, "bad_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "bad_token"),
    ],
)
def test_calls_without_a_valid_token_get_401(
    http: httpx.Client, headers: dict[str, str], code: str
) -> None:
    for method, path in (("POST", "/api/messages"), ("GET", "/api/history")):
        response = http.request(method, path, json={"text": "x"}, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"] == code


def test_bad_bodies_get_422_and_say_what_is_wrong(http: httpx.Client) -> None:
    auth = start(http)
    for body in ({}, {"text": 5}, {"text": "x", "extra": 1}, {"text": "x", "message_id": ""}):
        response = http.post("/api/messages", json=body, headers=auth)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    response = http.post(
        "/api/messages", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 422


def test_limits_over_http() -> None:
    settings = WebSettings(
        max_text_chars=5,
        max_file_bytes=10,
        max_frame_bytes=2000,
        rate=0.001,
        burst=1,
        session_rate=0.001,
        session_burst=1,
    )
    with (
        Runtime(make_web_bot()) as rt,
        live_server(rt, settings) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as http,
    ):
        auth = start(http)
        too_long = http.post("/api/messages", json={"text": "123456"}, headers=auth)
        assert too_long.status_code == 413
        assert too_long.json()["error"] == "too_large"
        huge = http.post("/api/messages", content=b"x" * 5000, headers=auth)
        assert huge.status_code == 413
        streamed = http.post("/api/messages", content=iter([b"x" * 1500] * 2), headers=auth)
        assert streamed.status_code == 413  # chunked: no content-length to check first
        assert streamed.json()["error"] == "too_large"
        assert texts(http.post("/api/messages", json={"text": "a"}, headers=auth)) == ["#1 a"]
        limited = http.post("/api/messages", json={"text": "b"}, headers=auth)
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        another = http.post("/api/sessions")  # new sessions are limited per client address
        assert another.status_code == 429
        assert another.json()["error"] == "rate_limited"


def test_health_and_openapi(http: httpx.Client) -> None:
    health = http.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    document = http.get("/openapi.json").json()
    assert set(document["paths"]) >= {
        "/api/sessions",
        "/api/messages",
        "/api/files",
        "/api/events",
        "/api/reset",
        "/api/history",
        "/health",
        "/metrics",
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_sessions_events_latency_failures_and_connections(
    web: LiveServer, http: httpx.Client
) -> None:
    auth = start(http)
    http.post("/api/messages", json={"text": "x"}, headers=auth)
    http.post("/api/messages", json={"text": "break the turn"}, headers=auth)
    with WsClient(web.ws_url + "/ws") as client:
        client.start()
        client.send("nonsense")
        client.until("error")
        client.ask("hello", "h")
        metrics = _samples(http.get("/metrics").text)
    assert metrics[("runtime_sessions", (("state", "live"),))] == 2
    assert metrics[("runtime_sessions", (("state", "passivated"),))] == 0
    assert (
        metrics[("runtime_gateway_events_total", (("kind", "message"), ("protocol", "http")))] == 2
    )
    assert metrics[("runtime_gateway_events_total", (("kind", "message"), ("protocol", "ws")))] == 1
    assert metrics[("runtime_gateway_turn_failures_total", (("code", "bad_value"),))] == 1
    assert metrics[("runtime_gateway_refused_total", (("code", "bad_json"),))] == 1
    assert metrics[("runtime_connections", (("protocol", "ws"),))] == 1
    assert metrics[("runtime_turn_latency_seconds_count", (("protocol", "http"),))] == 3
    assert metrics[("runtime_events_total", (("outcome", "failed"),))] == 1
    assert metrics[("runtime_overloads_total", ())] == 0


def test_rate_limiters_are_kept_for_the_most_recent_keys_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Gate, "_MAX_LIMITERS", 10)
    with Runtime(make_web_bot()) as rt:
        gate = Gate(rt, WebSettings())
        for n in range(25):  # new sessions from 25 addresses, then 25 sessions' calls
            assert gate.allow_new_session(f"10.0.0.{n}") == 0.0
            gate.limiter_for(f"session-{n}").take()
        assert len(gate._limiters) == 10
