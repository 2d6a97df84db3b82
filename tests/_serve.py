"""``python -m runtime serve`` of the greetings bot as a real process, for tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GREETINGS = str(Path(__file__).parents[1] / "runtime" / "examples" / "greetings.py")


def serve_command(*arguments: str) -> list[str]:
    """``python -m runtime serve`` of the greetings bot, with ``arguments``."""
    return [sys.executable, "-m", "runtime", "serve", GREETINGS, *arguments]


@contextmanager
def serving(data: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``serve`` on a free port; yield the process and its URL (read from its output)."""
    with server_process(serve_command("--port", "0", "--data", str(data), *extra)) as started:
        yield started


@contextmanager
def server_process(
    command: list[str], *, cwd: Path | None = None, bot_name: str = "greetings"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``command``, a server that prints ``Serving BOT at URL/ ...`` first; yield the
    process and its http URL. The process is killed at the end if it still runs."""
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server printed its URL
        assert line.startswith(f"Serving {bot_name} at http://127.0.0.1:"), (
            line + process.stderr.read() if process.stderr else line
        )
        url = line.split(" at ", 1)[1].split("/ ", 1)[0]
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
