"""Fuzz the gateway on one live server: both WebSocket protocols and the HTTP API with
Hypothesis, every operation of the OpenAPI document with schemathesis.

The property, for every input: it gets exactly the answer its protocol promises (an error with
a known code and a message when it is bad; ack, unless left out, then replies or the turn's
error when it is good); then the same connection (or session) still answers a known-good
probe, and another session, the bystander, still answers its own and hears nothing else. The
oracles are written from the protocols' documentation (``_frames``, ``_bbf``, ``_http``), not
from their parsers; JSON is RFC 8259 as orjson reads it (no NaN, no lone surrogate, nesting
under 1024).

Each part counts the inputs it sends (probes aside) and the module prints the counts when it
ends (``pytest -s``): the README quotes them.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from _bots import make_web_bot
from _web import LiveServer, WsClient, live_server
from hypothesis import event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from runtime import Runtime
from runtime.platforms.web import WebSettings
from runtime.replies import REPLY_KINDS
from runtime.runtime import live_runtimes

SETTINGS = WebSettings(
    max_text_chars=500,
    max_file_bytes=601,  # not a multiple of 3: the base64 size arithmetic must be exact
    max_frame_bytes=4096,
    rate=1e9,  # the rate limits have their own tests; here they would only add noise
    burst=10**9,
)
MAX_ID = 256
SCHEMATHESIS_EXAMPLES = 40
"""Examples per operation and generation mode: ~0.5 s each on a 2-core machine."""

TURN_CODES = frozenset(
    {"bad_value", "turn_failed", "timeout", "overloaded", "store_unavailable", "shutting_down"}
)
WELCOME = [{"kind": "text", "text": "Welcome!"}]
BBF_REPLIES = frozenset(
    f"bot_reply_{kind}"
    for kind in ("str", "markdown", "html", "file", "image", "options", "location")
)

INPUTS: Counter[str] = Counter()
"""Inputs sent per part: ws, bbf, http, schemathesis."""


# -- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _count_inputs() -> Iterator[None]:
    yield
    parts = ", ".join(f"{part} {count}" for part, count in sorted(INPUTS.items()))
    print(f"\nfuzz inputs tried: {parts}; total {sum(INPUTS.values())}")


@pytest.fixture(scope="module")
def web() -> Iterator[LiveServer]:
    with Runtime(make_web_bot()) as rt, live_server(rt, SETTINGS) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _stop_everything(web: LiveServer) -> Iterator[None]:
    """The suite's guard, but sparing the module's runtime, which ``web`` stops."""
    yield
    for rt in live_runtimes():
        if rt is not web.runtime:
            rt.stop(timeout=5)


@pytest.fixture(scope="module")
def http(web: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def api_token(http: httpx.Client) -> str:
    response = http.post("/api/sessions")
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


class Tokens:
    """The session tokens the fuzz may name, and whether their sessions exist."""

    def __init__(self, web: LiveServer, spare: str) -> None:
        self._web = web
        self.spare = spare
        self.issued = {spare}  # signed by the server
        self.started = {spare}  # and their session exists

    def fresh(self) -> str:
        token, _ = self._web.gate.tokens.issue()
        self.issued.add(token)
        return token

    def seen(self, token: str) -> None:
        self.issued.add(token)
        self.started.add(token)


@pytest.fixture(scope="module")
def tokens(web: LiveServer, http: httpx.Client) -> Tokens:
    spare = http.post("/api/sessions").json()["token"]
    return Tokens(web, spare)


# -- /ws connections ------------------------------------------------------------------------------


def receive(client: WsClient) -> dict[str, Any]:
    """The next frame but ``typing`` ones (they come and go with a slow turn's timing)."""
    while True:
        frame = client.recv()
        if frame.get("type") != "typing":
            return frame
        assert set(frame) == {"type", "on"}, frame
        assert isinstance(frame["on"], bool), frame


def past_ack(client: WsClient, frame_id: str | None) -> dict[str, Any]:
    """The next frame after ``frame_id``'s ``ack``, which is left out when the answer was
    ready to go with it (``_frames``)."""
    frame = receive(client)
    return receive(client) if frame == {"type": "ack", "in_reply_to": frame_id} else frame


@dataclass
class WsLine:
    """One ``/ws`` connection kept across examples, reopened after one that failed."""

    url: str
    tokens: Tokens
    client: WsClient | None = None
    token: str | None = None  # the session the connection talks to; None: none yet

    def open(self, *, start: bool = True) -> WsClient:
        if self.client is None:
            self.client = WsClient(self.url)
            self.token = None
            if start:
                self.client.send({"type": "resume", "token": None})
                self.expect_session(receive(self.client), "new")
                assert receive(self.client) == opening()
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client, self.token = None, None

    @contextmanager
    def example(self, *, start: bool = True) -> Iterator[WsClient]:
        client = self.open(start=start)
        try:
            yield client
        except BaseException:
            self.close()  # the next example starts clean, so a failure shrinks alone
            raise

    def expect_session(self, frame: dict[str, Any], state: str, token: str | None = None) -> None:
        """Check a ``session`` frame: ``new``, ``fresh`` (a token never used) or ``existing``."""
        assert set(frame) == {"type", "token", "resumed", "history"}, frame
        assert frame["type"] == "session", frame
        assert frame["resumed"] is (state == "existing"), frame
        assert isinstance(frame["token"], str), frame
        if state == "new":
            assert frame["token"] not in self.tokens.issued, frame
        else:
            assert frame["token"] == token, frame
        if state != "existing":
            assert frame["history"] == [], frame
        for entry in frame["history"]:
            assert entry["sender"] in ("bot", "user"), entry
            check_reply(entry["reply"])
        self.token = frame["token"]
        self.tokens.seen(frame["token"])

    def probe(self) -> None:
        """Ping the session; nothing else may come first."""
        client = self.open()
        n, probe_id = uuid.uuid4().int % 10**6, uuid.uuid4().hex
        client.send({"type": "event", "name": "ping", "payload": {"n": n}, "id": probe_id})
        frame = receive(client)
        starting = self.token is None
        if starting:  # a refused first frame started nothing: the probe starts the session
            self.expect_session(frame, "new")
            frame = receive(client)
        if frame == {"type": "ack", "in_reply_to": probe_id}:
            frame = receive(client)
        if starting:
            assert frame == opening()
            frame = receive(client)
        pong = [{"kind": "text", "text": f"pong {n}"}]
        assert frame == {"type": "replies", "in_reply_to": probe_id, "replies": pong}


def opening() -> dict[str, Any]:
    return {"type": "replies", "in_reply_to": None, "replies": WELCOME}


def check_reply(reply: dict[str, Any], *, http: bool = False) -> None:
    assert reply["kind"] in REPLY_KINDS, reply
    assert isinstance(reply["text"], str), reply
    keys = {"kind", "text", "content", "html"}
    assert set(reply) == keys if http else {"kind", "text"} <= set(reply) <= keys, reply


def check_error(frame: dict[str, Any], codes: frozenset[str], in_reply_to: str | None) -> None:
    assert frame["type"] == "error", frame
    assert frame["code"] in codes, (frame, codes)
    assert frame["in_reply_to"] == in_reply_to, frame
    assert isinstance(frame["message"], str), frame
    assert frame["message"], frame
    assert {"type", "code", "message", "in_reply_to"} <= set(frame), frame
    assert set(frame) <= {"type", "code", "message", "in_reply_to", "retry_after"}, frame


@pytest.fixture(scope="module")
def ws_line(web: LiveServer, tokens: Tokens) -> Iterator[WsLine]:
    line = WsLine(web.ws_url + "/ws", tokens)
    yield line
    line.close()


@pytest.fixture(scope="module")
def bystander(web: LiveServer, tokens: Tokens) -> Iterator[WsLine]:
    line = WsLine(web.ws_url + "/ws", tokens)
    line.open()
    yield line
    line.close()


# -- the /ws oracle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """An ``error`` frame with one of ``codes`` (the input may be wrong in several ways)."""

    codes: frozenset[str]
    in_reply_to: str | None = None


@dataclass(frozen=True)
class Turn:
    """``ack`` (unless left out) then ``replies`` or the turn's ``error``, all with ``id``."""

    id: str | None


@dataclass(frozen=True)
class Resume:
    """A ``session`` frame: for a ``new`` session, a ``fresh`` token's or an ``existing`` one.

    ``same``: the connection's own token. ``_frames`` promises a ``session`` frame for every
    resume, but ``_ws`` answers this one with nothing; the probe takes either.
    """

    state: str
    token: str | None = None


Answer = Refused | Turn | Resume


def answer_label(answer: Answer | str) -> str:
    """How an answer shows in Hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if isinstance(answer, Refused):
        return "refused " + "/".join(sorted(answer.codes))
    if isinstance(answer, Resume):
        return f"resume {answer.state}"
    return "turn" if isinstance(answer, Turn) else f"turn {answer}"


def refused(*codes: str, in_reply_to: str | None = None) -> Refused:
    return Refused(frozenset(codes), in_reply_to)


def is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def file_problems(raw: object, *, bbf: bool) -> set[str]:
    """What is wrong with a file: ``{"name", "type"?, "base64"}`` (BBF: or that as JSON text)."""
    if bbf and isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {"bad_frame"}
    if not isinstance(raw, dict):
        return {"bad_frame"}
    name, mime, data = raw.get("name"), raw.get("type"), raw.get("base64")
    problems = set()
    name_max = None if bbf else 255  # BBF truncates a long name
    if not isinstance(name, str) or not name or (name_max and len(name) > name_max):
        problems.add("bad_frame")
    if mime is not None and (not isinstance(mime, str) or (not bbf and len(mime) > 255)):
        problems.add("bad_frame")
    if not isinstance(data, str) or (bbf and not data):
        return problems | {"bad_frame"}
    try:
        size = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        problems.add("bad_frame")
        if len(data) * 3 > SETTINGS.max_file_bytes * 4:  # too long to hold a file under it
            problems.add("too_large")
        return problems
    if size > SETTINGS.max_file_bytes:
        problems.add("too_large")
    return problems


def ws_answer(raw: str | bytes, line: WsLine) -> Answer:
    """What the ``/ws`` protocol promises for ``raw`` on ``line`` (see ``_frames``)."""
    if isinstance(raw, bytes):
        return refused("bad_frame")
    if len(raw.encode("utf-8")) > SETTINGS.max_frame_bytes:
        return refused("too_large")
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return refused("bad_json")
    if type(frame) is not dict:
        return refused("bad_frame")
    frame_id = frame.get("id")
    id_ok = frame_id is None or is_id(frame_id)
    reply_to = frame_id if id_ok else None
    problems = set() if id_ok else {"bad_frame"}  # a bad id cannot come back
    problems |= field_problems(frame, line)
    if problems:
        return Refused(frozenset(problems), reply_to)
    if frame["type"] == "resume":
        return resume_answer(frame.get("token"), line)
    return Turn(frame_id)


def field_problems(frame: dict[str, Any], line: WsLine) -> set[str]:
    """What is wrong with a ``/ws`` frame's type and fields (its id aside)."""
    kind = frame.get("type")
    if kind not in ("resume", "message", "file", "event", "reset"):
        return {"unknown_type"}
    if kind == "message":
        text = frame.get("text")
        if not isinstance(text, str):
            return {"bad_frame"}
        return {"too_large"} if len(text) > SETTINGS.max_text_chars else set()
    if kind == "file":
        return file_problems(frame.get("file"), bbf=False)
    if kind == "event":
        name, payload = frame.get("name"), frame.get("payload")
        if not is_id(name) or (payload is not None and not isinstance(payload, dict)):
            return {"bad_frame"}
    if kind == "resume":
        token = frame.get("token")
        if token is not None and not isinstance(token, str):
            return {"bad_frame"}
        if isinstance(token, str) and token not in line.tokens.issued:
            return {"bad_token"}
    return set()


def resume_answer(token: str | None, line: WsLine) -> Resume:
    if token is None:
        return Resume("new")
    if token == line.token:
        return Resume("same", token)
    return Resume("existing" if token in line.tokens.started else "fresh", token)


def check_ws_answer(line: WsLine, answer: Answer) -> None:
    """Read the frames that answer one input and check them against ``answer``."""
    assert line.client is not None
    client = line.client
    if isinstance(answer, Refused):
        check_error(receive(client), answer.codes, answer.in_reply_to)
    elif isinstance(answer, Resume):
        state = "existing" if answer.state == "same" else answer.state
        line.expect_session(receive(client), state, answer.token)
        if state != "existing":
            assert receive(client) == opening()
    else:
        starting = line.token is None  # any first frame starts a session
        if starting:
            line.expect_session(receive(client), "new")
        result = past_ack(client, answer.id)
        if starting:
            assert result == opening()
            result = receive(client)
        assert result["in_reply_to"] == answer.id, result
        if result["type"] == "error":
            check_error(result, TURN_CODES, answer.id)
        else:
            assert set(result) == {"type", "in_reply_to", "replies"}, result
            assert result["type"] == "replies", result
            for reply in result["replies"]:
                check_reply(reply)


# -- strategies ---------------------------------------------------------------------------------


class TokenRef(enum.Enum):
    """A token chosen when the frame is sent: the session's own, another's, a new one..."""

    OWN = "own"
    SPARE = "spare"
    FRESH = "fresh"
    FORGED = "forged"


def resolve(value: object, line: WsLine) -> object:
    if not isinstance(value, TokenRef):
        return value
    tokens = line.tokens
    if value is TokenRef.OWN:
        return line.token
    if value is TokenRef.SPARE:
        return tokens.spare
    if value is TokenRef.FRESH:
        return tokens.fresh()
    return tokens.spare.partition(".")[0] + "." + "A" * 22  # the spare's key, a made-up tag


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates, rarely
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb"])  # only escaped can they travel
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
DEEP = (st.integers(1, 1100) | st.sampled_from([1024, 1025, 2000])).map(
    lambda n: "[" * n + "]" * n  # orjson stops at depth 1024, Python's json near 1000
)
RAW_TEXT = st.one_of(
    st.text(max_size=1500),  # at most 6000 bytes: under the server's hard limit of 8192
    st.integers(3000, 8000).map(lambda n: "x" * n),  # around max_frame_bytes
    st.integers(1500, 4000).map(lambda n: "\u00e9" * n),  # 2 bytes a character
    DEEP,
)
RAW = RAW_TEXT | st.binary(max_size=64)


def as_json(value: object, ascii_only: bool) -> str:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: it goes escaped
        text = json.dumps(value)
    return text


def json_text(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.builds(as_json, values, st.booleans())


def sized(n: int, char: str = "x") -> str:
    return char * n


IDS = (
    st.none()
    | st.text(min_size=1, max_size=8)
    | st.sampled_from([sized(MAX_ID), "", sized(MAX_ID + 1)])
)
GOOD_TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["hello", "break the turn", "show me something rich"]),  # a failing turn
    st.integers(498, 500).map(sized),  # max_text_chars
)
TEXTS = GOOD_TEXTS | LONE_SURROGATES | st.integers(501, 502).map(sized)


def base64_of(sizes: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    byte = st.binary(min_size=1, max_size=1)
    return st.builds(lambda n, b: base64.b64encode(b * n).decode(), sizes, byte)


LIMIT = SETTINGS.max_file_bytes
GOOD_B64 = base64_of(st.integers(0, 700) | st.sampled_from(range(LIMIT - 2, LIMIT + 3)))
BAD_B64 = st.one_of(
    st.text(max_size=12),
    GOOD_B64.map(lambda s: s[:-1] or "="),
    GOOD_B64.map(lambda s: s + "\n"),
    st.integers(800, 806).map(lambda n: "A" * n),  # 801+ characters cannot be under the limit
)
NAMES = st.text(max_size=10) | LONE_SURROGATES | st.sampled_from(["", sized(255), sized(256)])
MIMES = st.none() | st.sampled_from(["text/plain", "", sized(255), sized(256)]) | st.text()
FILES = st.fixed_dictionaries(
    {}, optional={"name": NAMES | JSON, "type": MIMES | JSON, "base64": GOOD_B64 | BAD_B64 | JSON}
)
EVENT_NAMES = st.sampled_from(["ping", "other", "", sized(MAX_ID), sized(MAX_ID + 1)]) | st.text()
PAYLOADS = st.none() | st.fixed_dictionaries({"n": JSON}) | st.dictionaries(ANY_TEXT, JSON)
TOKENS = st.sampled_from(TokenRef) | st.none() | st.text(max_size=60)
WS_TYPES = st.sampled_from(["resume", "message", "file", "event", "reset"])
EXTRA = st.dictionaries(st.text(max_size=6), JSON, max_size=2)

WS_SHAPED = st.builds(
    lambda frame, extra: {**extra, **frame},
    st.fixed_dictionaries(
        {"type": WS_TYPES | st.text(max_size=8) | JSON},
        optional={
            "id": IDS | JSON,
            "text": TEXTS | JSON,
            "file": FILES | JSON,
            "name": EVENT_NAMES | JSON,
            "payload": PAYLOADS | JSON,
            "token": TOKENS | JSON,
        },
    ),
    EXTRA,
)
VALID_IDS = st.none() | st.text(min_size=1, max_size=8) | st.just(sized(MAX_ID, "i"))
VALID_FILES = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=20),
        "base64": base64_of(st.integers(1, 20) | st.sampled_from([LIMIT - 1, LIMIT])),
    },
    optional={"type": st.none() | st.sampled_from(["text/plain", "image/png", ""])},
)
GOOD_TOKENS = st.sampled_from([None, TokenRef.OWN, TokenRef.SPARE, TokenRef.FRESH])
WS_VALID = st.builds(
    lambda frame, frame_id: {**frame, **frame_id},
    st.one_of(
        st.fixed_dictionaries({"type": st.just("message"), "text": GOOD_TEXTS}),
        st.fixed_dictionaries({"type": st.just("file"), "file": VALID_FILES}),
        st.fixed_dictionaries(
            {"type": st.just("event"), "name": st.sampled_from(["ping", "other"])},
            optional={"payload": PAYLOADS},
        ),
        st.just({"type": "reset"}),
        st.fixed_dictionaries({"type": st.just("resume"), "token": GOOD_TOKENS}),
    ),
    st.fixed_dictionaries({}, optional={"id": VALID_IDS}),
)


def ws_frames(frames: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Frames with their tokens chosen at send time: (frame, ascii-only JSON?)."""
    return st.tuples(frames, st.booleans())


# -- /ws: the properties ------------------------------------------------------------------------


def send_ws(line: WsLine, raw: str | bytes) -> None:
    """Send one input, check its answer, then that the connection still answers a probe."""
    assert line.client is not None
    answer = ws_answer(raw, line)
    event(f"ws {answer_label(answer)}")
    INPUTS["ws"] += 1
    line.client.ws.send(raw)
    check_ws_answer(line, answer)
    line.probe()


def send_ws_frame(line: WsLine, frame: dict[str, Any], ascii_only: bool) -> None:
    frame = {key: resolve(value, line) for key, value in frame.items()}
    send_ws(line, as_json(frame, ascii_only))


@given(raw=RAW | json_text(JSON))
def test_any_text_or_json_on_ws_gets_the_promised_answer(
    ws_line: WsLine, bystander: WsLine, raw: str | bytes
) -> None:
    with ws_line.example():
        send_ws(ws_line, raw)
    bystander.probe()


@given(frame=ws_frames(WS_SHAPED))
def test_frames_with_wrong_or_missing_fields_get_the_promised_answer(
    ws_line: WsLine, bystander: WsLine, frame: tuple[dict[str, Any], bool]
) -> None:
    with ws_line.example():
        send_ws_frame(ws_line, *frame)
    bystander.probe()


@given(frames=st.lists(ws_frames(WS_VALID), min_size=1, max_size=4))
def test_valid_frames_are_acknowledged_and_answered(
    ws_line: WsLine, bystander: WsLine, frames: list[tuple[dict[str, Any], bool]]
) -> None:
    with ws_line.example():
        for frame in frames:
            send_ws_frame(ws_line, *frame)
    bystander.probe()


@given(first=ws_frames(WS_VALID | WS_SHAPED) | RAW.map(lambda raw: (raw, False)))
def test_any_first_frame_gets_the_promised_answer(
    web: LiveServer, tokens: Tokens, bystander: WsLine, first: tuple[Any, bool]
) -> None:
    line = WsLine(web.ws_url + "/ws", tokens)
    try:
        with line.example(start=False):
            raw, ascii_only = first
            if isinstance(raw, dict):
                send_ws_frame(line, raw, ascii_only)
            else:
                send_ws(line, raw)
    finally:
        line.close()
    bystander.probe()


# -- BBF at / ----------------------------------------------------------------------------------


@dataclass
class BbfLine:
    """One connection to the BBF protocol kept across examples (its own session)."""

    url: str
    client: WsClient | None = None

    @contextmanager
    def example(self) -> Iterator[WsClient]:
        if self.client is None:
            self.client = WsClient(self.url)
            assert self.client.recv() == {"action": "bot_reply_str", "message": "Welcome!"}
        try:
            yield self.client
        except BaseException:
            self.client.close()
            self.client = None
            raise


@pytest.fixture(scope="module")
def bbf_line(web: LiveServer) -> Iterator[BbfLine]:
    line = BbfLine(web.ws_url + "/")
    yield line
    if line.client is not None:
        line.client.close()


def bbf_answer(raw: str | bytes) -> Refused | str:
    """What BBF's protocol here promises for ``raw``: an error, or a turn of that kind."""
    if isinstance(raw, bytes):
        return refused("bad_frame")
    if len(raw.encode("utf-8")) > SETTINGS.max_frame_bytes:
        return refused("too_large")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return refused("bad_json")
    if type(payload) is not dict or "action" not in payload:
        return refused("bad_frame")
    action, message = payload["action"], payload.get("message")
    if action == "user_message":
        if not isinstance(message, str):
            return refused("bad_frame")
        return refused("too_large") if len(message) > SETTINGS.max_text_chars else "message"
    if action == "user_file":
        problems = file_problems(message, bbf=True)
        return Refused(frozenset(problems)) if problems else "file"
    if action == "reset":
        return "reset"
    if action == "user_voice":
        return refused("unsupported")
    return refused("unknown_type")


def check_bbf_error(frame: dict[str, Any], codes: frozenset[str]) -> None:
    assert frame == {"action": "error", "message": frame["message"]}, frame
    code, _, message = frame["message"].partition(": ")
    assert code in codes, (frame, codes)
    assert message, frame


def send_bbf(client: WsClient, raw: str | bytes) -> None:
    """Send one input and a probe; check what came before the probe's reply."""
    answer = bbf_answer(raw)
    event(f"bbf {answer_label(answer)}")
    INPUTS["bbf"] += 1
    client.ws.send(raw)
    probe = f"probe {uuid.uuid4().hex}"
    client.send({"action": "user_message", "message": probe})
    probe_reply = re.compile(rf"#\d+ {probe}")
    frames = []
    while True:
        frame = client.recv()
        if frame.get("action") == "bot_reply_str" and probe_reply.fullmatch(frame["message"]):
            break
        frames.append(frame)
    if isinstance(answer, Refused):
        assert len(frames) == 1, frames
        check_bbf_error(frames[0], answer.codes)
    elif frames and frames[0]["action"] == "error":
        assert len(frames) == 1, frames
        check_bbf_error(frames[0], TURN_CODES)
    else:
        assert frames or answer == "file", (answer, frames)  # a message or reset is answered
        for frame in frames:
            assert set(frame) == {"action", "message"}, frame
            assert frame["action"] in BBF_REPLIES, frame


BBF_ACTIONS = st.sampled_from(["user_message", "user_file", "reset", "user_voice"])
BBF_FILE_MESSAGES = st.one_of(
    FILES,
    json_text(FILES),
    DEEP,
    json_text(st.fixed_dictionaries({"name": ANY_TEXT | LONE_SURROGATES, "base64": GOOD_B64})),
)
BBF_FILES = st.fixed_dictionaries(
    {"action": st.just("user_file"), "message": BBF_FILE_MESSAGES | VALID_FILES}
)
BBF_SHAPED = st.builds(
    lambda frame, extra: {**extra, **frame},
    st.fixed_dictionaries(
        {"action": BBF_ACTIONS | st.text(max_size=8) | JSON},
        optional={"message": TEXTS | BBF_FILE_MESSAGES | JSON},
    ),
    EXTRA,
)
BBF_VALID = st.one_of(
    st.fixed_dictionaries(
        {
            "action": st.just("user_message"),
            "message": GOOD_TEXTS,
        }
    ),
    st.fixed_dictionaries(
        {
            "action": st.just("user_file"),
            "message": VALID_FILES | json_text(VALID_FILES),
        }
    ),
    st.fixed_dictionaries({"action": st.just("reset")}, optional={"message": st.none()}),
)


def send_bbf_all(line: BbfLine, bystander: WsLine, inputs: list[str | bytes]) -> None:
    with line.example() as client:
        for raw in inputs:
            send_bbf(client, raw)
    bystander.probe()


@given(raw=RAW | json_text(JSON))
def test_any_text_or_json_on_bbf_gets_the_promised_answer(
    bbf_line: BbfLine, bystander: WsLine, raw: str | bytes
) -> None:
    send_bbf_all(bbf_line, bystander, [raw])


@given(raw=json_text(BBF_SHAPED | BBF_FILES))
def test_bbf_payloads_with_wrong_or_missing_fields_get_the_promised_answer(
    bbf_line: BbfLine, bystander: WsLine, raw: str
) -> None:
    send_bbf_all(bbf_line, bystander, [raw])


@given(inputs=st.lists(json_text(BBF_VALID), min_size=1, max_size=4))
def test_valid_bbf_payloads_are_answered_with_replies(
    bbf_line: BbfLine, bystander: WsLine, inputs: list[str]
) -> None:
    send_bbf_all(bbf_line, bystander, list(inputs))


# -- the HTTP API -------------------------------------------------------------------------------


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


@given(request=HTTP_REQUESTS)
def test_any_http_body_gets_a_documented_status_and_a_json_body(
    http: httpx.Client,
    api_token: str,
    bystander: WsLine,
    request: tuple[str, tuple[bytes, str | None]],
) -> None:
    endpoint, (body, content_type) = request
    send_http(http, api_token, (endpoint, Auth.VALID, body, content_type))
    bystander.probe()


@given(request=st.tuples(st.sampled_from(ENDPOINTS[1:]), AUTHS, HTTP_BODIES, CONTENT_TYPES))
def test_no_or_a_bad_token_never_reaches_a_session(
    http: httpx.Client,
    api_token: str,
    bystander: WsLine,
    request: tuple[str, Auth | str, bytes, str | None],
) -> None:
    send_http(http, api_token, request)
    bystander.probe()


# -- schemathesis over the OpenAPI document ----------------------------------------------------

OPERATIONS = [
    ("POST", "/api/sessions", GenerationMode.POSITIVE),
    *(
        (method, path, mode)
        for method, path in [
            ("POST", "/api/messages"),
            ("POST", "/api/files"),
            ("POST", "/api/events"),
            ("POST", "/api/reset"),
        ]
        for mode in GenerationMode
    ),
    ("GET", "/api/history", GenerationMode.POSITIVE),
    ("GET", "/health", GenerationMode.POSITIVE),
    ("GET", "/metrics", GenerationMode.POSITIVE),
]


@pytest.fixture(scope="module")
def schema(web: LiveServer) -> schemathesis.BaseSchema:
    # Bad data is rejected with one of the documented 4xx: schemathesis' own list leaves out
    # 413, the answer to a body over the limit, bad or not.
    rejections = {"expected-statuses": ["400", "401", "413", "422", "429"]}
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": rejections}})
    return schemathesis.openapi.from_url(web.url + "/openapi.json", config=config)


def not_a_server_error_but_a_failed_turn(ctx: Any, response: Any, case: Any) -> bool | None:
    """``not_a_server_error``, but for the documented 500 of a bot turn that failed."""
    if response.status_code == 500 and response.json().get("error") in TURN_CODES:
        return None
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


def test_the_openapi_document_has_the_operations_fuzzed(schema: schemathesis.BaseSchema) -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {f"{method} {path}" for method, path, _ in OPERATIONS}


@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[f"{m} {p} {mode.value}" for m, p, mode in OPERATIONS]
)
def test_schemathesis_finds_the_api_conforms_to_its_openapi_document(
    web: LiveServer,
    schema: schemathesis.BaseSchema,
    api_token: str,
    operation: tuple[str, str, GenerationMode],
) -> None:
    method, path, mode = operation
    checks: list[Callable[..., bool | None]] = [
        not_a_server_error_but_a_failed_turn,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)  # every bad input is answered with a 4xx
    auth = {"Authorization": f"Bearer {api_token}"}

    @settings(max_examples=SCHEMATHESIS_EXAMPLES)
    @given(case=schema[path][method].as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        INPUTS["schemathesis"] += 1
        case.call_and_validate(base_url=web.url, headers=auth, checks=checks)

    run()
