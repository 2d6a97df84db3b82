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

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from _bots import make_web_bot
from _fuzz_bbf import BBF_FILES, BBF_SHAPED, BBF_VALID, BbfLine, send_bbf_all
from _fuzz_common import INPUTS, JSON, RAW, SETTINGS, TURN_CODES, json_text
from _fuzz_http import AUTHS, CONTENT_TYPES, ENDPOINTS, HTTP_BODIES, HTTP_REQUESTS, Auth, send_http
from _fuzz_ws import WS_SHAPED, WS_VALID, Tokens, WsLine, send_ws, send_ws_frame, ws_frames
from _web import LiveServer, live_server
from hypothesis import given, settings
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
from runtime.runtime import live_runtimes

# Hypothesis warns when the global `random` state changes while a strategy draws, and cannot
# tell another thread from the strategy. This module's live server runs on other threads, and
# websockets' ping() draws its payload from the global `random` (the likely source: keepalive
# pings of the WebSocket connections; the cause was not caught in the act). Seen once as a
# FlakyFailure of a schemathesis negative-mode case in a full run (2026-11-30); every @given
# test here shares the server, so the filter covers the module.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)

SCHEMATHESIS_EXAMPLES = 40
"""Examples per operation and generation mode: ~0.5 s each on a 2-core machine."""


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


@pytest.fixture(scope="module")
def tokens(web: LiveServer, http: httpx.Client) -> Tokens:
    spare = http.post("/api/sessions").json()["token"]
    return Tokens(web, spare)


# -- /ws connections ------------------------------------------------------------------------------


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


# -- /ws: the properties ------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def bbf_line(web: LiveServer) -> Iterator[BbfLine]:
    line = BbfLine(web.ws_url + "/")
    yield line
    if line.client is not None:
        line.client.close()


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
