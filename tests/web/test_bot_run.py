"""``bot.run()`` (BBF's way to start a bot) serves it as ``python -m runtime serve`` does."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from _serve import server_process
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
    command = [sys.executable, "runner.py"]
    with server_process(command, cwd=tmp_path, bot_name="runner") as (process, http_url):
        url = http_url.replace("http://", "ws://")
        with connect(url + "/") as client:  # BBF's protocol, as BBF's run() would serve
            assert json.loads(client.recv(timeout=30)) == {
                "action": "bot_reply_str",
                "message": "hello from run",
            }
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert (tmp_path / "runtime-data" / "sessions.db").is_file()  # serve's default store
