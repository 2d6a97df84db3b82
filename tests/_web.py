"""A real gateway for tests: uvicorn serving ``create_app`` on a free loopback port, in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import uvicorn
from websockets.sync.client import connect as ws_connect

from runtime import Runtime
from runtime.platforms.web import WebSettings, create_app
from runtime.platforms.web._server import bind, server_config


class _ReadyServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets)
        self._ready.set()

    def install_signal_handlers(self) -> None:  # not the main thread
        pass


class LiveServer:
    """A gateway on a free port: ``url`` (http), ``ws_url`` (ws), ``app``, ``runtime``."""

    def __init__(self, runtime: Runtime, settings: WebSettings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or WebSettings()
        self.app = create_app(runtime, self.settings)
        self.gate = self.app.state.gate
        self._sock = bind("127.0.0.1", 0)
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self._ready = threading.Event()
        config = server_config(self.app, self.settings)  # serve's own
        self.server = _ReadyServer(config, self._ready)
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()/stop()
            self.error = exc
            self._ready.set()

    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError(f"the test server did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("the test server did not stop within 30 s")


@contextmanager
def live_server(runtime: Runtime, settings: WebSettings | None = None) -> Iterator[LiveServer]:
    """Serve ``runtime`` (started) for the block."""
    server = LiveServer(runtime, settings).start()
    try:
        yield server
    finally:
        server.stop()


class WsClient:
    """A blocking client of the ``/ws`` protocol (websockets' sync client), for tests."""

    def __init__(self, url: str, **connect: object) -> None:
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(ws_connect(url, open_timeout=10, **connect))  # type: ignore[arg-type]

    def send(self, frame: dict | str) -> None:  # type: ignore[type-arg]
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 10) -> dict:  # type: ignore[type-arg]
        return json.loads(self.ws.recv(timeout=timeout))  # type: ignore[no-any-return]

    def until(self, kind: str, timeout: float = 10, **match: object) -> dict:  # type: ignore[type-arg]
        """Read frames until one of type ``kind`` with the ``match`` fields; return it."""
        while True:
            frame = self.recv(timeout)
            if frame.get("type", frame.get("action")) == kind and all(
                frame.get(k) == v for k, v in match.items()
            ):
                return frame

    def start(self, token: str | None = None) -> dict:  # type: ignore[type-arg]
        """Send ``resume`` and return the ``session`` frame."""
        self.send({"type": "resume", "token": token})
        return self.until("session")

    def ask(self, text: str, frame_id: str) -> list[str]:
        """Send a message; return the texts of its replies (its ack, if any, is skipped)."""
        self.send({"type": "message", "text": text, "id": frame_id})
        frame = self.until("replies", in_reply_to=frame_id)
        return [reply["text"] for reply in frame["replies"]]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
