"""``bot.run()`` (BBF's way to start a bot) serves it as ``python -m runtime serve`` does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from websockets.sync.client import connect

BOT = """
from runtime import Bot
from runtime.properties import WEBSOCKET_HOST, WEBSOCKET_PORT

bot = Bot("runner")
bot.set_property(WEBSOCKET_HOST, "127.0.0.1")
bot.set_property(WEBSOCKET_PORT, 0)  # any free port: the printed URL has it
start = bot.new_state("start", initial=True)
start.set_body(lambda session: session.reply("hello from run"))

if __name__ == "__main__":
    raise SystemExit(bot.run())
"""


def test_bot_run_serves_on_the_websocket_properties_and_exits_0_on_sigterm(
    tmp_path: Path,
) -> None:
    (tmp_path / "runner.py").write_text(BOT)
    process = subprocess.Popen(
        [sys.executable, "runner.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server printed its URL
        assert line.startswith("Serving runner at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split("/ ", 1)[0].replace("http://", "ws://")
        with connect(url + "/") as client:  # BBF's protocol, as BBF's run() would serve
            assert json.loads(client.recv(timeout=30)) == {
                "action": "bot_reply_str",
                "message": "hello from run",
            }
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert (tmp_path / "runtime-data" / "sessions.db").is_file()  # serve's default store
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
