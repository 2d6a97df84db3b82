"""Private ``redis-server`` processes for tests: start on a free loopback port, stop, restart.

Tests never share a Redis with anything else: when the ``redis-server`` binary is on PATH,
each test session starts its own server (no persistence, loopback only) and stops it by pid at
the end. Without the binary, ``REDIS_URL`` names a server to use instead; with neither, the
tests that need Redis fail (they are not skipped: a CI without Redis must not look green).

Use it from any conftest (pytest puts ``tests/`` on ``sys.path`` because it has no
``__init__.py``, so ``import _redis`` works from every test directory)::

    import pytest

    from _redis import RedisServer, serve_redis


    @pytest.fixture(scope="session")
    def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        with serve_redis(tmp_path_factory.mktemp("redis")) as url:
            yield url


    @pytest.fixture
    def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
        # A private server a test may stop() and start() again on the same port.
        with RedisServer.private(tmp_path / "redis") as server:
            yield server

``tests/store/conftest.py`` defines exactly these two fixtures.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest
import redis

__all__ = ["RedisServer", "free_port", "redis_server_binary", "serve_redis"]

#: How long a starting server may take to answer PING, and a stopping one to exit.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_INSTALL_HINT = (
    "install the redis-server binary (Debian/Ubuntu: apt-get install -y redis-server; "
    ".ci/run does this) or set REDIS_URL=redis://host:port/db to a server the tests may use"
)


def redis_server_binary() -> str | None:
    """Return the path of the ``redis-server`` binary, or None when it is not on PATH."""
    return shutil.which("redis-server")


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now.

    Another process may take it before the caller binds it: ``RedisServer.start`` retries
    with a new port when its first start fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, data dir ``directory``.

    ``start()`` waits until the server answers PING; ``stop()`` terminates it by pid and
    waits for it to exit. A stopped server starts again on the same port (so clients holding
    ``url`` reconnect to it): empty, unless ``persistent`` (an append-only file, synced on
    every write, as a production Redis holding sessions would run).
    """

    def __init__(
        self, directory: Path, *, binary: str | None = None, persistent: bool = False
    ) -> None:
        self.persistent = persistent  # keep data across restarts (append-only file, fsync)
        found = binary or redis_server_binary()
        if found is None:
            raise FileNotFoundError(f"redis-server is not on PATH: {_INSTALL_HINT}")
        self.binary = found
        self.directory = directory
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def private(cls, directory: Path, *, persistent: bool = False) -> Iterator[RedisServer]:
        """Start a server for the ``with`` block and stop it after; fail the test without one.

        Raises:
            pytest.fail.Exception: the ``redis-server`` binary is not on PATH (``REDIS_URL``
                is not enough: a test that stops the server must own it).
        """
        if redis_server_binary() is None:
            pytest.fail(
                "this test stops and restarts its own redis-server, so it needs the "
                "redis-server binary on PATH; REDIS_URL is not enough (install it: Debian/"
                "Ubuntu: apt-get install -y redis-server; .ci/run does this)"
            )
        directory.mkdir(parents=True, exist_ok=True)
        with cls(directory, persistent=persistent) as server:
            yield server

    @property
    def url(self) -> str:
        """The server's ``redis://127.0.0.1:PORT/0`` URL (known once started)."""
        if self.port is None:
            raise RuntimeError("the server has not been started yet, so it has no port")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The running server's process id, or None when it is stopped."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the server (on its previous port after a stop) and wait until it answers PING.

        Raises:
            RuntimeError: the server exited or did not answer within ``START_TIMEOUT``.
        """
        if self._process is not None:
            raise RuntimeError(f"redis-server is already running (pid {self._process.pid})")
        if self.port is not None:
            self._start_on(self.port)
            return
        # A fresh port can be taken between free_port() and the server's bind: try another.
        for attempt in range(3):
            port = free_port()
            try:
                self._start_on(port)
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            self.port = port
            return

    def stop(self) -> None:
        """Terminate the server by pid and wait for it to exit (kill it if it will not)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def _start_on(self, port: int) -> None:
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", "",  # the log on stdout: readiness is a line of it
        ]  # fmt: skip
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._process = process
        try:
            _wait_until_ready(port, process)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, pid={self.pid})"


def _wait_until_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait for the server's "Ready to accept connections" log line, then check a PING.

    A thread reads the server's log (its stdout) for as long as it runs, so the pipe never
    fills; the wait is on that thread's lines, with a deadline.

    Raises:
        RuntimeError: the server exited or did not get ready within ``START_TIMEOUT``; the
            message ends with its log.
    """
    assert process.stdout is not None
    lines: queue.Queue[bytes | None] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=40)

    def read(stream: IO[bytes]) -> None:
        with stream:  # closed here, at the end of the log, whoever stops the server
            for line in stream:
                lines.put(line)
        lines.put(None)  # end of the log: the server exited

    threading.Thread(target=read, args=(process.stdout,), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(
                f"redis-server (pid {process.pid}) was not ready on port {port} within "
                f"{START_TIMEOUT} s; its log ends with:\n" + "".join(tail)
            ) from None
        if line is None:
            process.wait(STOP_TIMEOUT)
            raise RuntimeError(
                f"redis-server exited with code {process.returncode} before it was ready on "
                f"port {port}; its log ends with:\n" + "".join(tail)
            )
        tail.append(line.decode(errors="replace"))
        if b"Ready to accept connections" in line:
            break
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=START_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


@contextlib.contextmanager
def serve_redis(directory: Path) -> Iterator[str]:
    """Yield the URL of a Redis the tests may use, started here when possible.

    With the ``redis-server`` binary on PATH, start a private server in ``directory`` and stop
    it after the ``with`` block. Otherwise use ``REDIS_URL``. With neither, fail the test.

    Raises:
        pytest.fail.Exception: no ``redis-server`` binary and no ``REDIS_URL``.
    """
    if redis_server_binary() is not None:
        directory.mkdir(parents=True, exist_ok=True)
        with RedisServer(directory) as server:
            yield server.url
        return
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    pytest.fail(f"these tests need Redis and there is none: {_INSTALL_HINT}")
