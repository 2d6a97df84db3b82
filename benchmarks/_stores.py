"""Where W6's stores live during one run: a temporary SQLite folder, and a Redis server.

- SQLite: one file per measurement, in a fresh folder under ``tempfile``'s directory
  (``$TMPDIR``, else ``/tmp``); its file system is recorded (tmpfs or a disk), since a commit
  on a disk costs more. ``TMPDIR=/dev/shm python -m benchmarks --only W6`` puts it on tmpfs.
- Redis: ``$REDIS_URL`` if set; else a private ``redis-server`` started here on a free
  loopback port (no persistence) and stopped by pid at the end; else none, and every Redis
  measurement is skipped with the reason (the benchmark says so loudly; it is not a test).
  Each store gets its own key prefix, unique to this run; at the end the keys under the run's
  prefix are deleted (a private server is simply stopped).

The folder is removed at the end too. Nothing here depends on a Redis the run did not name.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from runtime.store import MemoryStore, RedisStore, SessionStore, SqliteStore

__all__ = ["KINDS", "Stores"]

#: The stores W6 measures, the in-memory baseline first.
KINDS = ("memory", "sqlite", "redis")

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_DELETE_CHUNK = 1_000


class Stores:
    """Open W6's stores by kind and tag; clean up everything at ``__exit__``.

    Args:
        log: prints a progress line.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self.run_id = f"bench-w6-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.run_id}-"))
        self.folder_fs = file_system(self.folder)
        self.redis_url: str | None = None
        self.redis_source = ""
        self.redis_skip: str | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._redis = _redis_client_module()

    # -- set-up and clean-up ----------------------------------------------------------------

    def __enter__(self) -> Stores:
        try:
            self._find_redis()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._cleanup()

    def _find_redis(self) -> None:
        if self._redis is None:
            self.redis_skip = "the redis client is not installed (pip install 'redis>=5')"
            return
        url = os.environ.get("REDIS_URL")
        if url:
            self.redis_url, self.redis_source = url, f"REDIS_URL ({_safe_url(url)})"
            return
        binary = shutil.which("redis-server")
        if binary is None:
            self.redis_skip = (
                "no Redis: REDIS_URL is not set and redis-server is not on PATH "
                "(apt-get install redis-server, or set REDIS_URL=redis://host:port/db)"
            )
            return
        try:
            port = self._start_server(binary)
        except (OSError, RuntimeError) as exc:
            self.redis_skip = f"no Redis: starting a private redis-server failed: {exc}"
            return
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        version = _server_version(binary)
        self.redis_source = f"private redis-server {version} on 127.0.0.1:{port} (pid {self.pid})"

    def _start_server(self, binary: str) -> int:
        port = _free_port()
        log_path = self.folder / "redis.log"
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.folder),
            "--daemonize", "no",
            "--logfile", str(log_path),
        ]  # fmt: skip
        self._server = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        client = self._redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)
        deadline = time.monotonic() + _START_TIMEOUT
        delay = 0.005
        try:
            while True:
                try:
                    if client.ping():
                        return port
                except self._redis.RedisError:
                    pass
                if self._server.poll() is not None or time.monotonic() > deadline:
                    log = log_path.read_text(errors="replace")[-500:] if log_path.exists() else ""
                    self._stop_server()
                    raise RuntimeError(f"it did not answer PING on port {port}: {log}")
                # Nothing to wait on but the port itself: a short, growing retry delay.
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        finally:
            client.close()

    @property
    def pid(self) -> int | None:
        """The private redis-server's process id (None: none started)."""
        return None if self._server is None else self._server.pid

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.terminate()
        try:
            server.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(_STOP_TIMEOUT)

    def _cleanup(self) -> None:
        try:
            if self._server is None and self.redis_url is not None:
                deleted = self._delete_keys()
                self._log(f"  deleted {deleted} Redis keys under {self.run_id}:*")
        finally:
            self._stop_server()  # a private server: its data goes with it
            shutil.rmtree(self.folder, ignore_errors=True)

    def _delete_keys(self) -> int:
        client = self._redis.Redis.from_url(self.redis_url)
        deleted = 0
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{self.run_id}:*", count=_DELETE_CHUNK):
                batch.append(key)
                if len(batch) >= _DELETE_CHUNK:
                    deleted += client.delete(*batch)
                    batch.clear()
            if batch:
                deleted += client.delete(*batch)
        finally:
            client.close()
        return int(deleted)

    # -- stores -----------------------------------------------------------------------------

    def skip_reason(self, kind: str) -> str | None:
        """Return why stores of ``kind`` cannot be measured in this run, or None."""
        return self.redis_skip if kind == "redis" else None

    def open(self, kind: str, tag: str) -> SessionStore:
        """Return a new store of ``kind``; the same ``tag`` opens the same data again.

        Raises:
            ValueError: an unknown kind, or Redis is not available (see ``skip_reason``).
        """
        if kind == "memory":
            return MemoryStore()
        if kind == "sqlite":
            return SqliteStore(self.folder / f"{tag}.db")
        if kind == "redis":
            if self.redis_url is None:
                raise ValueError(f"no Redis in this run: {self.redis_skip}")
            return RedisStore(self.redis_url, prefix=f"{self.run_id}:{tag}:")
        raise ValueError(f"unknown store kind {kind!r}; choose from {', '.join(KINDS)}")

    def describe(self) -> dict[str, Any]:
        """Return where the stores are, for the JSON and the table."""
        return {
            "sqlite_folder": str(self.folder),
            "sqlite_file_system": self.folder_fs,
            "sqlite_settings": "WAL, synchronous=NORMAL (SqliteStore's defaults)",
            "redis": self.redis_source if self.redis_url else None,
            "redis_skipped": self.redis_skip,
            "key_prefix": f"{self.run_id}:",
        }


def file_system(path: Path) -> str:
    """Return the file system ``path`` is on: ``"tmpfs at /dev/shm (memory)"``, or a disk's."""
    real = os.path.realpath(path)
    best: tuple[str, str, str] | None = None
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                device, mount_point, fs_type, *_ = line.split()
                inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
                if inside and (best is None or len(mount_point) >= len(best[1])):
                    best = (device, mount_point, fs_type)
    except OSError:
        return "unknown file system"
    if best is None:
        return "unknown file system"
    device, mount_point, fs_type = best
    if fs_type in ("tmpfs", "ramfs"):
        return f"{fs_type} at {mount_point} (memory)"
    return f"{fs_type} on {device} at {mount_point} (disk)"


def _redis_client_module() -> Any:
    try:
        import redis  # noqa: PLC0415 - optional: without it the Redis rows are skipped
    except ImportError:
        return None
    return redis


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "(version unknown)"
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip()


def _safe_url(url: str) -> str:
    # Never print a password.
    head, _, tail = url.rpartition("@")
    return f"{url.split('//', 1)[0]}//***@{tail}" if head else url
