"""``python -m runtime serve BOT --ray ADDRESS --shards K``: a real process joining this Ray."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("ray.exceptions")  # the optional extra (tests/ray is no package of it)

import httpx
import ray
from _serve import serve_command, serving

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]


def test_serve_runs_the_gateway_in_front_of_ray_shards(tmp_path: Path) -> None:
    address = ray.get_runtime_context().gcs_address
    data = tmp_path / "data"
    with serving(data, "--ray", address, "--shards", "2") as (process, url):
        token = httpx.post(url + "/api/sessions").json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        reply = httpx.post(url + "/api/messages", json={"text": "hi"}, headers=auth, timeout=60)
        assert reply.json()["replies"][0]["text"] == "Hi! How are you?"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    assert (data / "sessions.db").exists()  # the shards' SQLite store


def test_shards_without_ray_is_a_usage_error() -> None:
    done = subprocess.run(
        serve_command("--shards", "2"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--shards needs --ray" in done.stderr
