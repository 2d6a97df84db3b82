"""What the fuzz's parts share: the server's limits, the input counts, the inputs every
protocol is fed (Hypothesis strategies) and the answer rules they have in common.

Used by ``test_fuzz`` and the other ``_fuzz_*`` helpers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from typing import Any

import orjson
from hypothesis import strategies as st

from runtime.platforms.web import WebSettings
from runtime.replies import REPLY_KINDS

SETTINGS = WebSettings(
    max_text_chars=500,
    max_file_bytes=601,  # not a multiple of 3: the base64 size arithmetic must be exact
    max_frame_bytes=4096,
    rate=1e9,  # the rate limits have their own tests; here they would only add noise
    burst=10**9,
)
MAX_ID = 256

TURN_CODES = frozenset(
    {"bad_value", "turn_failed", "timeout", "overloaded", "store_unavailable", "shutting_down"}
)

INPUTS: Counter[str] = Counter()
"""Inputs sent per part: ws, bbf, http, schemathesis."""


# -- answers every protocol shares --------------------------------------------------------------


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


def check_reply(reply: dict[str, Any], *, http: bool = False) -> None:
    assert reply["kind"] in REPLY_KINDS, reply
    assert isinstance(reply["text"], str), reply
    keys = {"kind", "text", "content", "html"}
    assert set(reply) == keys if http else {"kind", "text"} <= set(reply) <= keys, reply


# -- strategies ---------------------------------------------------------------------------------


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
EXTRA = st.dictionaries(st.text(max_size=6), JSON, max_size=2)
VALID_IDS = st.none() | st.text(min_size=1, max_size=8) | st.just(sized(MAX_ID, "i"))
VALID_FILES = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=20),
        "base64": base64_of(st.integers(1, 20) | st.sampled_from([LIMIT - 1, LIMIT])),
    },
    optional={"type": st.none() | st.sampled_from(["text/plain", "image/png", ""])},
)
