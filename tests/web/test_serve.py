"""``python -m runtime serve`` as users run it: a real process, real clients, real signals."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from _serve import serve_command, serving
from websockets.protocol import State

from runtime.examples.greetings import bot as greetings
from runtime.platforms.web import SessionTokens
from runtime.store import SqliteStore


def test_serve_keeps_sessions_in_sqlite_under_its_data_folder_and_exits_0_on_sigterm(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with serving(data) as (process, url):
        page = httpx.get(url + "/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        token = httpx.post(url + "/api/sessions").json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        reply = httpx.post(url + "/api/messages", json={"text": "hi"}, headers=auth)
        assert reply.json()["replies"][0]["text"] == "Hi! How are you?"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    assert (data / "sessions.db").exists()
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    # A restart on the same folder resumes the session with the same token.
    with serving(data) as (process, url):
        history = httpx.get(url + "/api/history", headers=auth).json()["history"]
        assert [e["reply"]["text"] for e in history] == ["hi", "Hi! How are you?"]
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0


def test_bad_arguments_and_a_busy_port_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    bad_store = subprocess.run(
        serve_command("--store", "nosql://x", "--data", str(tmp_path)),
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert bad_store.returncode == 2
    assert "store" in bad_store.stderr
    with serving(tmp_path / "a") as (process, url):
        port = url.rsplit(":", 1)[1]
        busy = subprocess.run(
            serve_command("--port", port, "--data", str(tmp_path / "b")),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert busy.returncode == 2
        assert "error:" in busy.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


CLIENTS = 16
PIPELINED = 20  # messages each client sends at once, then one more per reply


class Tally:
    """What the clients sent, saw acknowledged (an ack, or the replies that imply it) and saw
    answered."""

    def __init__(self) -> None:
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.answered: set[str] = set()
        self.tokens: list[str] = []
        self.enough = asyncio.Event()

    def ack(self, frame_id: str) -> None:
        self.acked.add(frame_id)
        if len(self.acked) >= CLIENTS * PIPELINED:
            self.enough.set()


async def _client(url: str, n: int, tally: Tally) -> None:
    """Keep PIPELINED messages in flight; record acks and replies until the server closes."""
    async with websockets.connect(url + "/ws") as ws:
        sent = 0
        sending = True

        async def send_one() -> None:
            nonlocal sent, sending
            if not sending or ws.state is not State.OPEN:
                # The server is closing: stop sending (a send would wait for the close), but
                # read on, the frames it sent before its close are still to come.
                sending = False
                return
            text = ("hi", "great", "hello", "bad")[sent % 4]
            frame_id = f"{n}-{sent}"
            tally.sent.add(frame_id)
            try:
                await ws.send(json.dumps({"type": "message", "text": text, "id": frame_id}))
            except websockets.ConnectionClosed:  # closed meanwhile: read on, as above
                sending = False
                return
            sent += 1

        await ws.send(json.dumps({"type": "resume", "token": None}))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "session":
                    tally.tokens.append(frame["token"])
                    for _ in range(PIPELINED):
                        await send_one()
                elif frame["type"] == "ack":
                    tally.ack(frame["in_reply_to"])
                elif frame["type"] == "replies" and frame["in_reply_to"]:
                    tally.ack(frame["in_reply_to"])  # replies imply the ack (it may be left out)
                    tally.answered.add(frame["in_reply_to"])
                    await send_one()
        except websockets.ConnectionClosed:
            pass


@pytest.mark.slow
def test_sigterm_during_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tally = Tally()

    async def load(url: str, process: subprocess.Popen[str]) -> None:
        ws_url = url.replace("http", "ws")
        clients = [asyncio.create_task(_client(ws_url, n, tally)) for n in range(CLIENTS)]
        # Messages in flight on every connection (bounded: a dead server fails, not hangs).
        await asyncio.wait_for(tally.enough.wait(), 60)
        process.send_signal(signal.SIGTERM)
        await asyncio.gather(*clients)

    with serving(data) as (process, url):
        asyncio.run(load(url, process))
        assert process.wait(60) == 0
    tokens, acked = tally.tokens, tally.acked
    assert len(tokens) == CLIENTS
    assert len(acked) >= CLIENTS * PIPELINED
    assert acked <= tally.sent
    # The drain let every accepted turn finish and wrote its replies before closing.
    assert tally.answered == acked
    # Every acknowledged message was committed: it is in its session's message_id memory.
    secret = (data / "secret.key").read_bytes()
    session_of = SessionTokens(secret).session_id
    store = SqliteStore(data / "sessions.db")
    store.bind(greetings)
    try:
        committed: set[str] = set()
        for token in tokens:
            session_id = session_of(token)
            assert session_id is not None
            record = store.load(session_id)
            assert record is not None
            committed |= set(record.replies_by_message_id or ())
    finally:
        store.close()
    assert acked - committed == set(), f"{len(acked - committed)} acknowledged messages lost"
    print(f"{len(acked)} of {len(tally.sent)} messages acknowledged, all committed and answered")
