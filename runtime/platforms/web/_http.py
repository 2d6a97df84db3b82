"""The HTTP API: start a session, send it messages, files, events and resets, read its history.

Every call but ``POST /api/sessions`` names its session with ``Authorization: Bearer
<token>``; a token the server did not issue gets 401, so no client can reach another's
session. The replies of a turn come back in the response once the turn is committed. Errors
are ``{"error": code, "message": ...}`` with the status codes below; the OpenAPI document is at
``/openapi.json`` (and readable at ``/docs``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from runtime.bot import File
from runtime.errors import RuntimeStoppedError, StoreError
from runtime.event import MAX_ID_LENGTH, Event, TurnKind, make_received
from runtime.platforms.web._frames import base64_size
from runtime.platforms.web._gate import Gate, error_code
from runtime.platforms.web._history import history_entries
from runtime.platforms.web._render import reply_dicts
from runtime.replies import REPLY_KINDS, typed

__all__ = ["ApiError", "router"]


class _JsonRequest(Request):
    """A request whose JSON body orjson parses, as the WebSocket frames are parsed.

    Python's ``json`` (FastAPI's default) takes escaped lone surrogates (``"\\ud800"``), which
    reached the bot, came back in replies that no UTF-8 can carry and made a 500 (and a 422
    showing one was a 500 too); it raises RecursionError on deep nesting (a bare 400). orjson
    refuses both with a ``JSONDecodeError``, which FastAPI answers with its 422.
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class _JsonRoute(APIRoute):
    """A route that reads JSON bodies with :class:`_JsonRequest` and always answers a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json(request: Request) -> Response:
            try:
                return await handler(_JsonRequest(request.scope, request.receive))
            except RequestValidationError as exc:
                # The 422 shows each error's input, and a body sent without a JSON content
                # type is bytes, which FastAPI decodes as UTF-8 to show: other bytes were a 500.
                for error in exc.errors():
                    if isinstance(error.get("input"), bytes):
                        error["input"] = error["input"].decode("utf-8", "replace")
                raise

        return strict_json


router = APIRouter(prefix="/api", tags=["sessions"], route_class=_JsonRoute)
_bearer = HTTPBearer(auto_error=False, description="the session token from POST /api/sessions")

_STATUS = {
    "overloaded": 503,
    "shutting_down": 503,
    "store_unavailable": 503,
    "unavailable": 503,
    "timeout": 504,
    "bad_value": 500,
    "turn_failed": 500,
    "rate_limited": 429,
    "too_large": 413,
    "bad_token": 401,
    "not_found": 404,
}


class ApiError(Exception):
    """An HTTP API error: rendered as ``{"error": code, "message": message}``."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(self.retry_after)))
        return JSONResponse(
            {"error": self.code, "message": self.message},
            status_code=_STATUS.get(self.code, 400),
            headers=headers,
        )


# -- models -----------------------------------------------------------------------------------

_MessageId = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="your id for this request: a resend with the same id returns the stored "
        "replies and never runs the bot twice",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Strict):
    text: str = Field(description="the user's message")
    message_id: _MessageId = None


class FileIn(_Strict):
    name: str = Field(min_length=1, max_length=255)
    type: str | None = Field(default=None, max_length=255, description="MIME type")
    base64: str = Field(description="the content, base64")
    message_id: _MessageId = None


class EventIn(_Strict):
    name: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    payload: dict[str, Any] | None = None
    message_id: _MessageId = None


class ResetIn(_Strict):
    message_id: _MessageId = None


class ReplyOut(BaseModel):
    kind: Literal[REPLY_KINDS]  # type: ignore[valid-type]
    text: str = Field(description="the text form (what the chat history keeps)")
    content: Any = Field(default=None, description="the rich content (see runtime.replies)")
    html: str | None = Field(default=None, description="sanitised HTML of markdown and html")


class RepliesOut(BaseModel):
    replies: list[ReplyOut]


class SessionOut(BaseModel):
    token: str = Field(description="keep it: it is the only way back to this session")
    replies: list[ReplyOut] = Field(description="the initial body's replies")


class HistoryEntry(BaseModel):
    sender: Literal["bot", "user"]
    reply: ReplyOut


class HistoryOut(BaseModel):
    history: list[HistoryEntry]


class ErrorOut(BaseModel):
    error: str
    message: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (401, 404, 413, 429, 500, 503, 504)
}
_FILE_ERRORS = {**_ERRORS, 400: {"model": ErrorOut, "description": "the base64 is invalid"}}

# -- helpers ----------------------------------------------------------------------------------


def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def _session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise ApiError("bad_token", "send your session token: Authorization: Bearer <token>")
    session_id = _gate(request).tokens.session_id(credentials.credentials)
    if session_id is None:
        raise ApiError("bad_token", "this token was not issued by this server")
    return session_id


Session = Annotated[str, Depends(_session)]


def _throttle(gate: Gate, wait: float, what: str) -> None:
    """Answer 429 when a rate limiter said to wait ``wait`` seconds for more ``what``."""
    if wait:
        gate.metrics.refused.labels("rate_limited").inc()
        raise ApiError("rate_limited", f"too many {what}: slow down", retry_after=wait)


async def _turn(gate: Gate, event: Event, *, limited: bool = True) -> list[dict[str, Any]]:
    """Submit ``event`` and wait (without blocking the loop) for its replies."""
    if gate.draining:
        raise ApiError("shutting_down", "the server is shutting down; retry later")
    if limited:
        _throttle(gate, gate.limiter_for(event.session_id).take(), "requests")
    try:
        future: Future[list[str]] = gate.runtime.submit(event)
    except RuntimeStoppedError as exc:
        raise ApiError("shutting_down", str(exc)) from None
    gate.turn_started()
    gate.metrics.events.labels(event.kind.value, "http").inc()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), gate.settings.reply_timeout
        )
    except TimeoutError:
        raise ApiError(
            "timeout", "the turn is still running; resend with the same message_id later"
        ) from None
    except Exception as exc:
        code = error_code(exc)
        gate.metrics.turn_failures.labels(code).inc()
        raise ApiError(code, str(exc), retry_after=1.0 if code == "overloaded" else None) from None
    finally:
        gate.metrics.latency.labels("http").observe(loop.time() - started)
        if future.done():
            gate.turn_ended()
        else:
            future.add_done_callback(lambda _: loop.call_soon_threadsafe(gate.turn_ended))
    typed_result = getattr(future, "typed_result", None)
    return reply_dicts(typed_result() if typed_result is not None else typed(future.result()))


def _check_text(gate: Gate, text: str) -> None:
    if len(text) > gate.settings.max_text_chars:
        raise ApiError("too_large", f"the message is over {gate.settings.max_text_chars} chars")


# -- endpoints --------------------------------------------------------------------------------


@router.post("/sessions", status_code=201, response_model=SessionOut, responses=_ERRORS)
async def start_session(request: Request) -> dict[str, Any]:
    """Start a new session: returns its token and the initial body's replies.

    Limited per client address (the gateway's rate), so no one client can fill the store."""
    gate = _gate(request)
    address = request.client.host if request.client is not None else None
    _throttle(gate, gate.allow_new_session(address), "new sessions")
    token, session_id = gate.tokens.issue()
    replies = await _turn(gate, Event(session_id, TurnKind.OPEN), limited=False)
    return {"token": token, "replies": replies}


@router.post("/messages", response_model=RepliesOut, responses=_ERRORS)
async def send_message(request: Request, session_id: Session, body: MessageIn) -> dict[str, Any]:
    """Send a message; returns the replies of its turn."""
    gate = _gate(request)
    _check_text(gate, body.text)
    event = Event(session_id, TurnKind.MESSAGE, body.text, body.message_id)
    return {"replies": await _turn(gate, event)}


@router.post("/files", response_model=RepliesOut, responses=_FILE_ERRORS)
async def send_file(request: Request, session_id: Session, body: FileIn) -> dict[str, Any]:
    """Send a file (base64); returns the replies of its turn."""
    gate = _gate(request)
    if base64_size(body.base64) > gate.settings.max_file_bytes:
        raise ApiError("too_large", f"the file is over {gate.settings.max_file_bytes} bytes")
    try:
        file = File(file_name=body.name, file_type=body.type or None, file_base64=body.base64)
    except ValueError as exc:
        raise ApiError("bad_request", f"the file's base64 is invalid: {exc}") from None
    return {"replies": await _turn(gate, Event(session_id, TurnKind.FILE, file, body.message_id))}


@router.post("/events", response_model=RepliesOut, responses=_ERRORS)
async def send_event(request: Request, session_id: Session, body: EventIn) -> dict[str, Any]:
    """Send a named event (a webhook); returns its replies, which the session's open
    WebSocket connections receive too."""
    received = make_received(body.name, body.payload)
    event = Event(session_id, TurnKind.EVENT, received, body.message_id)
    return {"replies": await _turn(_gate(request), event)}


@router.post("/reset", response_model=RepliesOut, responses=_ERRORS)
async def reset(
    request: Request, session_id: Session, body: ResetIn | None = None
) -> dict[str, Any]:
    """Forget the conversation and start again; returns the initial body's replies."""
    message_id = None if body is None else body.message_id
    event = Event(session_id, TurnKind.RESET, None, message_id)
    return {"replies": await _turn(_gate(request), event)}


@router.get("/history", response_model=HistoryOut, responses=_ERRORS)
async def history(request: Request, session_id: Session) -> dict[str, Any]:
    """The session's chat history, oldest first."""
    gate = _gate(request)
    _throttle(gate, gate.limiter_for(session_id).take(), "requests")
    try:
        snapshot = await gate.snapshot(session_id)
    except (RuntimeStoppedError, StoreError, TimeoutError) as exc:
        raise ApiError("unavailable", f"cannot load the session now: {exc}") from None
    if snapshot is None:
        raise ApiError("not_found", "this session has no history (it never started)")
    return {"history": history_entries(snapshot.chat_history)}
