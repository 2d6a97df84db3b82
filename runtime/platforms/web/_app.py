"""The ASGI application: the chat page, the HTTP API, both WebSocket protocols and metrics.

FastAPI (on Starlette) makes the HTTP API's OpenAPI document and request validation from
the typed handlers; Starlette's WebSocket support carries both WebSocket protocols. Nothing
here waits on a turn: events go to the runtime with ``submit`` and come back through
futures and subscriptions on the event loop.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from runtime import __version__
from runtime.platforms.web._bbf import BbfConnection
from runtime.platforms.web._connection import Connection
from runtime.platforms.web._gate import Gate
from runtime.platforms.web._http import ApiError, router
from runtime.platforms.web._settings import WebSettings
from runtime.platforms.web._ws import WebConnection
from runtime.runtime import Runtime

__all__ = ["create_app"]

_PAGE = resources.files("runtime.platforms.web").joinpath("page")


def create_app(runtime: Runtime, settings: WebSettings | None = None) -> FastAPI:
    """Build the gateway's ASGI app for a started ``runtime``.

    Routes: ``GET /`` (the chat page), ``GET /health``, ``GET /metrics`` (Prometheus text),
    ``/api/...`` (the HTTP API, see ``/openapi.json``), WebSocket ``/ws`` (this runtime's
    protocol) and WebSocket ``/`` (BBF 1.5's payload protocol). The app does not own the
    runtime: whoever made it stops it (``serve`` does, after draining).

    Raises:
        TypeError: ``runtime`` is not a Runtime or ``settings`` not WebSettings.
    """
    if not isinstance(runtime, Runtime):
        raise TypeError(f"create_app needs a Runtime, got {type(runtime).__name__}")
    settings = WebSettings() if settings is None else settings
    if not isinstance(settings, WebSettings):
        raise TypeError(f"settings must be WebSettings, got {type(settings).__name__}")
    gate = Gate(runtime, settings)
    app = FastAPI(
        title=f"{runtime.bot.name} (runtime gateway)",
        version=__version__,
        description="Chat with the bot over HTTP. WebSocket clients: see /ws (this runtime's "
        "protocol) and / (BBF 1.5's protocol).",
    )
    app.state.gate = gate
    app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=str(_PAGE)), name="static")
    index = _PAGE.joinpath("index.html").read_text(encoding="utf-8")

    @app.api_route(
        "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers=_PAGE_HEADERS)

    @app.get(
        "/health",
        tags=["operations"],
        responses={503: {"description": "draining: the server is shutting down"}},
    )
    async def health() -> JSONResponse:
        """Whether the server takes events: 200 ``ok``, or 503 ``draining`` on shutdown."""
        stats = runtime.stats()
        body = {
            "status": "draining" if gate.draining or not runtime.running else "ok",
            "bot": runtime.bot.name,
            "sessions_live": stats.sessions_live,
            "events_pending": stats.events_pending,
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(gate.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await _serve_websocket(websocket, WebConnection(websocket, gate))

    @app.websocket("/")
    async def bbf(websocket: WebSocket) -> None:
        await _serve_websocket(websocket, BbfConnection(websocket, gate))

    app.add_middleware(_BodyLimit, limit=settings.max_frame_bytes)
    return app


_PAGE_HEADERS = {
    # The page runs only its own script; replies' HTML is sanitised, and this stops any
    # inline script or remote resource that slipped through.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a WebSocket handshake's ``Origin`` may connect (browsers send it; others not)."""
    if origin is None or "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


async def _serve_websocket(websocket: WebSocket, connection: Connection) -> None:
    gate = connection.gate
    if not origin_allowed(
        websocket.headers.get("origin"),
        websocket.headers.get("host"),
        gate.settings.allowed_origins,
    ):
        gate.metrics.refused.labels("origin").inc()
        await websocket.close(code=1008)  # before accept: the handshake gets HTTP 403
        return
    if gate.open_connections >= gate.settings.max_connections:
        gate.metrics.refused.labels("too_many_connections").inc()
        await websocket.send_denial_response(
            JSONResponse(
                {"error": "too_many_connections", "message": "the server is full; retry later"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        )
        return
    await connection.run()


class _BodyLimit:
    """Refuse HTTP bodies over ``limit`` bytes with 413, declared or streamed (chunked).

    The body is read here, up to the limit, before the app sees it: an error raised from
    inside FastAPI's own body reading would become its generic 400.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = JSONResponse(
        {"error": "too_large", "message": f"the body is over {limit} bytes"}, status_code=413
    )
    await body({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
