"""Ray's processes for one test module: found by its temp folder, stopped by pid at the end.

Ray's own ``ray stop`` kills by name, machine-wide; the tests must stop only what they started.
Every Ray process of a test module has the module's temp folder on its command line (the GCS,
raylets, agents) or descends from one that has (workers, which rename themselves).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path

import pytest

__all__ = [
    "OBJECT_STORE_BYTES",
    "TEST_NAMESPACE",
    "ray_folder",
    "ray_pids",
    "stop_and_check",
    "wait_stopped",
]

OBJECT_STORE_BYTES = 100 * 1024 * 1024
TEST_NAMESPACE = "runtime-tests"
STOP_TIMEOUT = 30.0


def ray_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Make a short temp folder for Ray (its socket paths must stay under 107 bytes)."""
    folder = tmp_path_factory.mktemp("ray")
    (folder / "ray").mkdir()  # Cluster writes $RAY_TMPDIR/ray/ray_current_cluster
    os.environ["RAY_TMPDIR"] = str(folder)
    return folder


def stop_and_check(folder: Path, started: set[int], shutdown: object) -> None:
    """Run ``shutdown()``, then fail if a process started for ``folder`` outlived it."""
    started |= ray_pids(folder)
    shutdown()  # type: ignore[operator]
    killed = wait_stopped(started, STOP_TIMEOUT)
    assert not killed, f"Ray processes outlived shutdown and were killed: {sorted(killed)}"


def _processes() -> dict[int, tuple[int, str]]:
    """Return every process as pid -> (parent pid, command line)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            # Any process's command line, in any encoding (another user's non-UTF-8 one).
            cmdline = raw.decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry)] = (parent, cmdline)
    return found


def ray_pids(folder: Path) -> set[int]:
    """Return the pids of the processes started for ``folder``, and of their descendants."""
    processes = _processes()
    mine = {pid for pid, (_, cmdline) in processes.items() if str(folder) in cmdline}
    mine.discard(os.getpid())
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in processes.items() if parent in mine}
        grew = not children <= mine
        mine |= children
    return mine


def wait_stopped(pids: set[int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` s for ``pids`` to end (pidfds: no polling); SIGKILL the rest.

    Returns:
        The pids that had to be killed.
    """
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended already
            fds[os.pidfd_open(pid)] = pid
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    alive = dict(fds)
    deadline_ms = int(timeout * 1000)
    try:
        while alive and deadline_ms > 0:
            before = os.times().elapsed
            for fd, _ in poller.poll(deadline_ms):
                poller.unregister(fd)
                alive.pop(fd, None)
            deadline_ms -= int((os.times().elapsed - before) * 1000)
        for pid in alive.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return set(alive.values())
    finally:
        for fd in fds:
            os.close(fd)
