"""``python -m runtime serve BOT --ray ADDRESS --shards K``: a real process joining this Ray."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.exceptions")  # the optional extra (tests/ray is no package of it)

import httpx
import ray

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

GREETINGS = str(Path(__file__).parents[2] / "runtime" / "examples" / "greetings.py")


def test_serve_runs_the_gateway_in_front_of_ray_shards(tmp_path: Path) -> None:
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "runtime", "serve", GREETINGS, "--port", "0"]
    command += ["--data", str(tmp_path / "data"), "--ray", address, "--shards", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server printed its URL
        assert line.startswith("Serving greetings at http://127.0.0.1:"), (
            line + process.stderr.read() if process.stderr else line
        )
        url = line.split(" at ", 1)[1].split("/ ", 1)[0]
        token = httpx.post(url + "/api/sessions").json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        reply = httpx.post(url + "/api/messages", json={"text": "hi"}, headers=auth, timeout=60)
        assert reply.json()["replies"][0]["text"] == "Hi! How are you?"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert (tmp_path / "data" / "sessions.db").exists()  # the shards' SQLite store


def test_shards_without_ray_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "serve", GREETINGS, "--shards", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--shards needs --ray" in done.stderr
