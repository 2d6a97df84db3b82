"""The web platform: a WebSocket and HTTP gateway in front of a Runtime, and ``serve``.

- :func:`create_app` builds the ASGI app (FastAPI on Starlette) for a started runtime;
- :func:`serve` runs a bot behind it on uvicorn, with a clean drain on SIGTERM;
- :class:`WebSettings` holds the limits (sizes, rates, origins, waits).

The ``/ws`` protocol is documented in ``runtime.platforms.web._frames``; the BBF 1.5 protocol
at the root path in ``runtime.platforms.web._bbf``; the HTTP API in ``_http`` and at
``/openapi.json``.
"""

from runtime.platforms.web._app import create_app, origin_allowed
from runtime.platforms.web._server import DEFAULT_DATA_DIR, DEFAULT_STORE, serve
from runtime.platforms.web._settings import WebSettings
from runtime.platforms.web._tokens import SessionTokens

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_STORE",
    "SessionTokens",
    "WebSettings",
    "create_app",
    "origin_allowed",
    "serve",
]
