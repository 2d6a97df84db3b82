"""The ``/ws`` protocol under fuzz: connections kept across examples, the expected answers
(the oracle) and the frame strategies.

Used by ``test_fuzz``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from _fuzz_common import (
    EVENT_NAMES,
    EXTRA,
    FILES,
    GOOD_TEXTS,
    IDS,
    INPUTS,
    JSON,
    PAYLOADS,
    SETTINGS,
    TEXTS,
    TURN_CODES,
    VALID_FILES,
    VALID_IDS,
    as_json,
    check_reply,
    file_problems,
    is_id,
)
from _web import LiveServer, WsClient
from hypothesis import event
from hypothesis import strategies as st

WELCOME = [{"kind": "text", "text": "Welcome!"}]


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


def check_error(frame: dict[str, Any], codes: frozenset[str], in_reply_to: str | None) -> None:
    assert frame["type"] == "error", frame
    assert frame["code"] in codes, (frame, codes)
    assert frame["in_reply_to"] == in_reply_to, frame
    assert isinstance(frame["message"], str), frame
    assert frame["message"], frame
    assert {"type", "code", "message", "in_reply_to"} <= set(frame), frame
    assert set(frame) <= {"type", "code", "message", "in_reply_to", "retry_after"}, frame


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


def parsed_or_refused(raw: str | bytes) -> Any:
    """The JSON of a text frame, or the refusal both WebSocket protocols give before parsing
    it (binary, too large, not JSON)."""
    if isinstance(raw, bytes):
        return refused("bad_frame")
    if len(raw.encode("utf-8")) > SETTINGS.max_frame_bytes:
        return refused("too_large")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return refused("bad_json")


def ws_answer(raw: str | bytes, line: WsLine) -> Answer:
    """What the ``/ws`` protocol promises for ``raw`` on ``line`` (see ``_frames``)."""
    frame = parsed_or_refused(raw)
    if isinstance(frame, Refused):
        return frame
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


TOKENS = st.sampled_from(TokenRef) | st.none() | st.text(max_size=60)
WS_TYPES = st.sampled_from(["resume", "message", "file", "event", "reset"])

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


# -- /ws: sending -------------------------------------------------------------------------------


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
