"""BBF 1.5.0's own example bots, unchanged (straight from its wheel), on this runtime's CLI.

``chat``, ``serve`` and ``check-isolation`` run as users run them: real processes, a real
WebSocket speaking BBF's payload protocol. The files call ``bot.load_properties('config.ini')``
from the current folder, which BBF does not ship: the runtime warns and uses the defaults.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bbf_venv import BBF
from websockets.sync.client import connect

TIMEOUT = 120


def runtime_cli(*arguments: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        cwd=cwd,
        check=False,
    )


def chat(bot_file: Path, *messages: str, cwd: Path) -> tuple[list[str], str]:
    """Chat in the terminal; return the bot's lines and what was logged (stderr)."""
    done = runtime_cli("chat", str(bot_file), stdin="\n".join(messages) + "\n", cwd=cwd)
    assert done.returncode == 0, done.stderr
    lines = [line.removeprefix("bot> ") for line in done.stdout.splitlines()]
    return [line for line in lines if line and not line.startswith(("Chatting", "Type"))], (
        done.stderr + done.stdout
    )


def test_greetings_chats_unchanged(bbf: BBF, tmp_path: Path) -> None:
    messages = ("hello", "good", "hi", "awful", "?")
    lines, log = chat(bbf.example("greetings_bot.py"), *messages, cwd=tmp_path)
    assert lines == [
        "Hi! How are you?",
        "I am glad to hear that!",
        "Hi! How are you?",
        "I am sorry to hear that...",
        "Sorry, I didn't get it",
    ]
    assert "properties_file_missing" in log  # BBF's examples load a config.ini they lack


def test_weather_reads_the_city_parameter(bbf: BBF, tmp_path: Path) -> None:
    lines, _ = chat(
        bbf.example("weather_bot.py"),
        "what is the weather in barcelona?",
        "weather in LUX",
        "weather in paris",
        cwd=tmp_path,
    )
    temperature = r"The weather in {} is \d+(\.\d+)?°C"
    assert lines[0] == "Waiting..."
    assert re.fullmatch(temperature.format("Barcelona"), lines[1])
    assert lines[2] in ("🥶", "🥵")
    assert lines[3] == "Waiting..."
    assert re.fullmatch(temperature.format("Luxembourg"), lines[4])
    assert lines[6:] == ["Waiting...", "Sorry, I didn't get the city", "Waiting..."]


def test_greetings_is_isolated(bbf: BBF, tmp_path: Path) -> None:
    done = runtime_cli(
        "check-isolation", str(bbf.example("greetings_bot.py")), "--users", "6", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "isolated: every user saw alone what they saw together" in done.stdout


def test_telegram_answers_without_telegram_and_its_shared_counters_are_caught(
    bbf: BBF, tmp_path: Path
) -> None:
    example = bbf.example("telegram_bot.py")
    lines, _ = chat(example, "hello", "what?", "bye", "how are you?", cwd=tmp_path)
    assert lines == [
        "Waiting...",
        "You said hello 1 times",
        "Greetings from hello fallback",
        "You said bye 1 times",
        "Waiting...",
        "I am fine, thanks!",
        "Waiting...",
    ]
    # count_hello and count_bye are module globals: every user's "hello" counts for all.
    done = runtime_cli(
        "check-isolation", str(example), "--users", "4", "--messages", "8", cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT ISOLATED" in done.stdout
    assert "You said" in done.stdout


def test_llm_loads_and_says_what_is_not_available(bbf: BBF, tmp_path: Path) -> None:
    lines, log = chat(bbf.example("llm_bot.py"), "hello", cwd=tmp_path)
    assert lines == []  # every path of this bot asks the model
    assert (
        "not available in this runtime: LLMOpenAI('gpt-4o-mini').predict() (it calls OpenAI's "
        "API over the network)" in log
    )
    assert "not available in this runtime: LLM intent classification with 'gpt-4o-mini'" in log


@contextmanager
def serving(bot_file: Path, data: Path) -> Iterator[str]:
    """Run ``serve`` on a free port; yield its ws:// URL."""
    command = [sys.executable, "-m", "runtime", "serve", str(bot_file)]
    process = subprocess.Popen(
        [*command, "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=data,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server printed its URL
        assert line.startswith("Serving "), line + (process.stderr.read() if process.stderr else "")
        yield line.split(" at ", 1)[1].split("/ ", 1)[0].replace("http://", "ws://")
    finally:
        process.terminate()
        assert process.wait(60) == 0
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def say(client: Any, text: str) -> list[dict[str, str]]:
    """Send a BBF user message; return the next frame (a one-reply answer)."""
    client.send(json.dumps({"action": "user_message", "message": text}))
    return [json.loads(client.recv(timeout=30))]


def test_greetings_serves_bbf_s_websocket_protocol(bbf: BBF, tmp_path: Path) -> None:
    with serving(bbf.example("greetings_bot.py"), tmp_path) as url, connect(url + "/") as client:
        assert say(client, "hello") == [{"action": "bot_reply_str", "message": "Hi! How are you?"}]
        assert say(client, "bad") == [
            {"action": "bot_reply_str", "message": "I am sorry to hear that..."}
        ]


def test_weather_serves_bbf_s_websocket_protocol(bbf: BBF, tmp_path: Path) -> None:
    with serving(bbf.example("weather_bot.py"), tmp_path) as url, connect(url + "/") as client:
        opening = json.loads(client.recv(timeout=30))
        assert opening == {"action": "bot_reply_str", "message": "Waiting..."}
        client.send(json.dumps({"action": "user_message", "message": "weather in barna"}))
        frames = [json.loads(client.recv(timeout=30)) for _ in range(3)]
        assert all(frame["action"] == "bot_reply_str" for frame in frames)
        assert re.fullmatch(r"The weather in Barcelona is \d+(\.\d+)?°C", frames[0]["message"])
        assert frames[1]["message"] in ("🥶", "🥵")
        assert frames[2]["message"] == "Waiting..."
