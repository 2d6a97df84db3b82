"""The HTTP API under fuzz: the expected statuses and bodies (the oracle), the request
strategies and a client helper that sends one request and probes the session after it.

Used by ``test_fuzz``.
"""

from __future__ import annotations

import enum
import uuid

import httpx
import orjson
from _fuzz_common import (
    BAD_B64,
    DEEP,
    EVENT_NAMES,
    GOOD_B64,
    GOOD_TEXTS,
    IDS,
    INPUTS,
    JSON,
    MIMES,
    NAMES,
    PAYLOADS,
    SETTINGS,
    TEXTS,
    TURN_CODES,
    VALID_FILES,
    VALID_IDS,
    check_reply,
    file_problems,
    is_id,
    json_text,
)
from hypothesis import event
from hypothesis import strategies as st


class Auth(enum.Enum):
    """An Authorization header chosen when the request is sent."""

    VALID = "valid"  # the session's token
    NONE = "none"  # no header
    FORGED = "forged"  # the session's key with a made-up tag


ENDPOINTS = ("/api/sessions", "/api/messages", "/api/files", "/api/events", "/api/reset")
ERROR_OF_STATUS = {400: "bad_request", 401: "bad_token", 413: "too_large"}
STATUS_OF_PROBLEM = {"bad_frame": 400, "too_large": 413}
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "application/vnd.x+json")
CONTENT_TYPES = st.sampled_from(
    [None, *JSON_TYPES, "text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(
    str.strip  # h11 refuses to send a header value with spaces around it
)
AUTHS = (
    st.sampled_from([Auth.NONE, Auth.FORGED])
    | HEADER_TEXT
    | HEADER_TEXT.map(lambda t: f"Bearer {t}".strip())
)
HTTP_SHAPED = st.builds(
    lambda body, extra: {**extra, **body},
    st.fixed_dictionaries(
        {},
        optional={
            "text": TEXTS | JSON,
            "message_id": IDS | JSON,
            "name": NAMES | EVENT_NAMES | JSON,
            "type": MIMES | JSON,
            "base64": GOOD_B64 | BAD_B64 | JSON,
            "payload": PAYLOADS | JSON,
        },
    ),
    st.dictionaries(st.text(max_size=6), JSON, max_size=1),
)
HTTP_BODIES = st.one_of(
    st.just(b""),
    json_text(JSON | HTTP_SHAPED).map(str.encode),
    st.binary(max_size=64),
    DEEP.map(str.encode),
    st.integers(4000, 4200).map(lambda n: b'{"text": "' + b"x" * n + b'"}'),  # the limit: 4096
)
FIELDS = {
    "/api/messages": {"text", "message_id"},
    "/api/files": {"name", "type", "base64", "message_id"},
    "/api/events": {"name", "payload", "message_id"},
    "/api/reset": {"message_id"},
}
_NOT_JSON = object()


def body_is_valid(endpoint: str, body: object) -> bool:
    """Whether ``body`` (parsed JSON) is what the endpoint's model takes."""
    if endpoint == "/api/reset" and body is None:
        return True
    if not isinstance(body, dict) or not set(body) <= FIELDS[endpoint]:
        return False
    if body.get("message_id") is not None and not is_id(body["message_id"]):
        return False
    if endpoint == "/api/messages":
        return isinstance(body.get("text"), str)
    if endpoint == "/api/files":
        name, mime = body.get("name"), body.get("type")
        return (
            isinstance(name, str)
            and 0 < len(name) <= 255
            and (mime is None or (isinstance(mime, str) and len(mime) <= 255))
            and isinstance(body.get("base64"), str)
        )
    if endpoint == "/api/events":
        payload = body.get("payload")
        return is_id(body.get("name")) and (payload is None or type(payload) is dict)
    return True


def http_statuses(
    endpoint: str, authorised: bool, body: bytes, content_type: str | None
) -> set[int]:
    """The statuses the HTTP API documents for this request."""
    if len(body) > SETTINGS.max_frame_bytes:
        return {413}
    if endpoint == "/api/sessions":
        return {201}
    value: object
    if not body:
        value = None if endpoint == "/api/reset" else _NOT_JSON  # only reset's is optional
    elif content_type is not None and content_type.split(";")[0].endswith(("/json", "+json")):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {422}
    else:
        value = _NOT_JSON
    valid = value is not _NOT_JSON and body_is_valid(endpoint, value)
    if not authorised:
        return {401} if valid else {401, 422}  # which comes first is not documented
    if not valid:
        return {422}
    assert isinstance(value, dict) or value is None
    if endpoint == "/api/messages" and len(value["text"]) > SETTINGS.max_text_chars:
        return {413}
    if endpoint == "/api/files" and (problems := file_problems(value, bbf=False)):
        return {STATUS_OF_PROBLEM[problem] for problem in problems}
    return {200, 500}  # 500: the bot's turn failed (bad_value, turn_failed)


def check_http_response(response: httpx.Response, expected: set[int]) -> None:
    status = response.status_code
    assert status in expected, (status, response.text, expected)
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    if status == 422:
        assert isinstance(body["detail"], list), body
        assert body["detail"], body
        for error in body["detail"]:
            assert {"loc", "msg", "type"} <= set(error), body
            assert error["msg"], body
    elif status >= 400:
        assert set(body) == {"error", "message"}, body
        assert body["message"], body
        assert body["error"] in (TURN_CODES if status == 500 else {ERROR_OF_STATUS[status]}), body
    elif set(body) == {"history"}:
        for entry in body["history"]:
            assert entry["sender"] in ("bot", "user"), entry
            check_reply(entry["reply"], http=True)
    else:
        assert set(body) == ({"token", "replies"} if status == 201 else {"replies"}), body
        for reply in body["replies"]:
            check_reply(reply, http=True)


def api_probe(http: httpx.Client, token: str) -> None:
    """The session still takes a turn, and its whole history still reads."""
    auth = {"Authorization": f"Bearer {token}"}
    n = uuid.uuid4().int % 10**6
    pong = http.post("/api/events", json={"name": "ping", "payload": {"n": n}}, headers=auth)
    assert pong.status_code == 200, pong.text
    assert [reply["text"] for reply in pong.json()["replies"]] == [f"pong {n}"]
    check_http_response(http.get("/api/history", headers=auth), {200})


def send_http(
    http: httpx.Client, token: str, request: tuple[str, Auth | str, bytes, str | None]
) -> None:
    """Send one request, check its status and body, then that the session goes on."""
    endpoint, auth, body, content_type = request
    headers = {} if content_type is None else {"Content-Type": content_type}
    if auth is Auth.VALID:
        headers["Authorization"] = f"Bearer {token}"
    elif auth is Auth.FORGED:
        headers["Authorization"] = f"Bearer {token.partition('.')[0]}.{'A' * 22}"
    elif isinstance(auth, str):
        headers["Authorization"] = auth
    expected = http_statuses(endpoint, auth is Auth.VALID, body, content_type)
    INPUTS["http"] += 1
    response = http.post(endpoint, content=body, headers=headers)
    event(f"{endpoint} {response.status_code}")
    check_http_response(response, expected)
    if auth is not Auth.NONE:  # the same token reads the history, or is refused
        history = http.get("/api/history", headers=headers)
        check_http_response(history, {200} if auth is Auth.VALID else {401})
    api_probe(http, token)


HTTP_VALID = {
    "/api/sessions": st.just({}),
    "/api/messages": st.fixed_dictionaries(
        {"text": GOOD_TEXTS}, optional={"message_id": VALID_IDS}
    ),
    "/api/files": st.builds(
        lambda file, extra: {**file, **extra},
        VALID_FILES,
        st.fixed_dictionaries({}, optional={"message_id": VALID_IDS}),
    ),
    "/api/events": st.fixed_dictionaries(
        {"name": st.sampled_from(["ping", "other"])},
        optional={"payload": PAYLOADS, "message_id": VALID_IDS},
    ),
    "/api/reset": st.none() | st.fixed_dictionaries({}, optional={"message_id": VALID_IDS}),
}


def bodies_for(endpoint: str) -> st.SearchStrategy[tuple[bytes, str | None]]:
    """Bodies the endpoint's model takes (with a JSON content type), and any others."""
    valid = st.tuples(json_text(HTTP_VALID[endpoint]).map(str.encode), st.sampled_from(JSON_TYPES))
    return valid | st.tuples(HTTP_BODIES, CONTENT_TYPES)


HTTP_REQUESTS = st.sampled_from(ENDPOINTS).flatmap(
    lambda endpoint: st.tuples(st.just(endpoint), bodies_for(endpoint))
)
