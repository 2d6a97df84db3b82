"""``serve``: run a bot behind the gateway on uvicorn until SIGTERM or Ctrl-C, then drain.

A shutdown signal starts a drain: the gateway refuses new events (``shutting_down`` error
frames, 503s), accepted turns finish and are committed, then uvicorn closes the connections
and the runtime stops (its store is flushed and closed), and the process exits 0. A second
Ctrl-C skips the wait. uvicorn by itself re-raises SIGTERM after its shutdown, which makes the
process exit -15; ``serve`` handles the signals itself instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import uvicorn
from starlette.types import ASGIApp

from runtime.bot import Bot
from runtime.platforms.web._app import create_app
from runtime.platforms.web._settings import WebSettings
from runtime.platforms.web._uvicorn import HighWaterWebSocketProtocol
from runtime.runtime import Runtime
from runtime.store import open_store

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_MAX_HISTORY", "DEFAULT_STORE", "serve", "server_config"]

DEFAULT_DATA_DIR = "runtime-data"
"""Where ``serve`` keeps its SQLite sessions and its token key, relative to the working
directory."""

DEFAULT_STORE = "sqlite:///sessions.db"
"""``serve``'s store: an SQLite file in the data folder."""

DEFAULT_MAX_HISTORY = 1000
"""Chat history entries ``serve`` keeps per session (``Runtime(max_history=...)``): each turn
rewrites the whole session in the store, and a resume sends the whole history."""

FLUSH_TIMEOUT = 2.0
"""Seconds a shutdown waits at least, after the drain, for replies still queued to clients (it
waits up to what is left of ``drain_timeout`` when that is longer)."""

_SECRET_FILE = "secret.key"


def load_secret(data_dir: Path) -> bytes:
    """Return the token key kept in ``data_dir`` (made on first use, readable by us only)."""
    path = data_dir / _SECRET_FILE
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
        return secret
    if len(secret) < 32:
        raise ValueError(f"{path} holds {len(secret)} bytes; a token key needs 32 (delete it)")
    return secret


class _Server(uvicorn.Server):
    """uvicorn's server, with a drain on the first signal and no re-raise after it."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[object]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._signalled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._signalled:  # a second signal: stop waiting
            self.force_exit = sig == signal.SIGINT
            self.should_exit = True
            return
        self._signalled = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._start_drain)
        else:
            self.should_exit = True

    def _start_drain(self) -> None:
        self._drain_task = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        finally:
            self.should_exit = True


def server_config(app: ASGIApp, settings: WebSettings) -> uvicorn.Config:
    """uvicorn's configuration for the gateway (``serve`` and the tests use this one)."""
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # asyncio's own loop, not uvloop: uvloop gave +20% messages/s at full load but a p99
        # of 150-200 ms at half load (asyncio's: 8-24 ms), its turns stalling behind the loop
        # thread (measured with W8; benchmarks/README.md).
        loop="asyncio",
        ws=HighWaterWebSocketProtocol,
        # uvicorn counts open WebSockets too when it refuses HTTP requests (503): room for
        # max_connections of each. WebSockets themselves are capped by the gateway.
        limit_concurrency=2 * settings.max_connections,
        ws_max_size=2 * settings.max_frame_bytes,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
    )


def bind(host: str, port: int) -> socket.socket:
    """Open the listening socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    # Without it a reply frame written right after an ack waited for the client's delayed ACK
    # (measured: 44 ms per message for a lone client, 0.3 ms with it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    bot: Bot,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    store: str | None = None,
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    settings: WebSettings | None = None,
    runtime_options: Mapping[str, Any] | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve ``bot`` on ``host:port`` until SIGTERM or Ctrl-C; return the exit code (0).

    Args:
        bot: the bot.
        host: the interface to listen on (loopback by default: say ``0.0.0.0`` to expose it).
        port: the TCP port (0: any free one; the printed URL has the real one).
        store: a store URL (``"memory"``, ``"sqlite:///x.db"``, ``"redis://..."``); default
            :data:`DEFAULT_STORE`, a file in ``data_dir``.
        data_dir: the folder for relative SQLite paths and the token key (made if missing).
        settings: the gateway's limits (:class:`WebSettings`).
        runtime_options: more keyword arguments for :class:`Runtime` (``max_history``
            defaults to :data:`DEFAULT_MAX_HISTORY` here).
        out: where the "Serving ..." line goes (stdout).

    Raises:
        OSError: the port cannot be bound or the data folder made.
        ValueError, TypeError: an argument is invalid.
    """
    settings = WebSettings() if settings is None else settings
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    if settings.secret is None:
        settings = dataclasses.replace(settings, secret=load_secret(data))
    spec = DEFAULT_STORE if store is None else store
    options = {"max_history": DEFAULT_MAX_HISTORY, **dict(runtime_options or {})}
    with contextlib.ExitStack() as cleanup:  # closes what was opened, last first
        sock = bind(host, port)
        cleanup.callback(sock.close)
        session_store = open_store(spec, data_dir=data)
        cleanup.callback(session_store.close)
        runtime = Runtime(bot, store=session_store, **options)
        cleanup.callback(runtime.stop, settings.drain_timeout)
        runtime.start()
        app = create_app(runtime, settings)
        gate = app.state.gate
        config = server_config(app, settings)

        async def drain() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.drain_timeout
            await gate.drain(settings.drain_timeout)
            # The drained turns' replies, before the close: what is left of the drain's time
            # (a loaded host writes a thousand connections' frames slowly), at least a little.
            await gate.flush(max(FLUSH_TIMEOUT, deadline - loop.time()))

        server = _Server(config, drain)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(
            f"Serving {bot.name} at http://{shown}:{bound_port}/ "
            f"(sessions: {spec}{'' if spec == 'memory' else f' in {data}'}). "
            "Ctrl-C or SIGTERM stops it.",
            file=out or sys.stdout,
            flush=True,
        )
        server.run(sockets=[sock])  # on the loop the config names
    return 0
