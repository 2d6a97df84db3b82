"""BBF's protocol at ``/`` under fuzz: a connection kept across examples, the expected
answers and the payload strategies.

Used by ``test_fuzz``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from _fuzz_common import (
    ANY_TEXT,
    DEEP,
    EXTRA,
    FILES,
    GOOD_B64,
    GOOD_TEXTS,
    INPUTS,
    JSON,
    LONE_SURROGATES,
    SETTINGS,
    TEXTS,
    TURN_CODES,
    VALID_FILES,
    file_problems,
    json_text,
)
from _fuzz_ws import Refused, WsLine, answer_label, parsed_or_refused, refused
from _web import WsClient
from hypothesis import event
from hypothesis import strategies as st

BBF_REPLIES = frozenset(
    f"bot_reply_{kind}"
    for kind in ("str", "markdown", "html", "file", "image", "options", "location")
)


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


def bbf_answer(raw: str | bytes) -> Refused | str:
    """What BBF's protocol here promises for ``raw``: an error, or a turn of that kind."""
    payload = parsed_or_refused(raw)
    if isinstance(payload, Refused):
        return payload
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
