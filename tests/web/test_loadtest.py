"""``python -m runtime loadtest``: real servers in their own process, the table, exit codes."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from runtime import _cli_loadtest
from runtime.cli import main
from runtime.testing._loadtest import ws_url
from runtime.testing._ws_wire import CLOSE, PING, TEXT, FrameReader, WireError, encode

ROOT = Path(__file__).resolve().parents[2]
GREETINGS = "runtime/examples/greetings.py"
RACY = "tests/testing/racy_bots/shared_counter.py"


@contextmanager
def serving(data: Path, bot: str = GREETINGS, *extra: str) -> Iterator[str]:
    """Run ``serve BOT --store memory`` on a free port; yield its URL (read from its output)."""
    command = [sys.executable, "-m", "runtime", "serve", bot, "--port", "0", "--store", "memory"]
    process = subprocess.Popen(
        [*command, "--data", str(data), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server printed its URL
        assert " at http://127.0.0.1:" in line, line + (
            process.stderr.read() if process.stderr else ""
        )
        yield line.split(" at ", 1)[1].split("/ ", 1)[0]
    finally:
        process.kill()
        process.wait(30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def greetings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("data"), GREETINGS, "--rate", "100000") as url:
        yield url


def loadtest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``loadtest ARGS`` in this process; return the exit code, stdout and stderr."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        # The verb configures structlog for the process, to print on the stderr of the
        # moment: capsys's, closed after this test, which would break later tests' logging.
        patch.setattr(_cli_loadtest, "configure_cli_logging", lambda level: None)
        code = main(["loadtest", *args])
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> dict[str, str]:
    """Read the report's table: row name -> value."""
    rows = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line, maxsplit=1)
        if len(parts) == 2 and not line.startswith(" "):
            rows[parts[0]] = parts[1]
    return rows


def count(value: str) -> int:
    """The leading number of a table cell: ``"1,000 of 1,000"`` -> 1000."""
    return int(value.split(maxsplit=1)[0].replace(",", ""))


# -- against the greetings bot ----------------------------------------------------------------


def test_twenty_clients_get_all_their_replies_with_none_lost_or_crossed(
    greetings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loadtest(capsys, greetings, "--clients", "20", "--messages", "5")

    assert code == 0, out + err
    rows = table(out)
    assert out.splitlines()[0] == (
        f"loadtest {ws_url(greetings)}: 20 clients x 5 messages (the fixed cycle)"
    )
    assert count(rows["connected"]) == 20
    assert rows["messages sent"] == "100 of 100"
    assert count(rows["answered"]) == 100
    assert count(rows["errors"]) == 0
    assert count(rows["lost"]) == 0
    assert count(rows["crossed"]) == 0
    assert count(rows["throttled"]) == 0
    assert rows["latency ms"].startswith("p50 ")
    assert out.rstrip().endswith("OK: nothing lost or crossed")
    assert err == ""  # no progress bar when stderr is not a terminal


def test_two_client_processes_share_the_clients_and_add_up_their_counts(
    greetings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loadtest(
        capsys, greetings, "--clients", "9", "--messages", "4", "--processes", "2"
    )

    assert code == 0, out + err
    rows = table(out)
    assert rows["clients"] == "9 in 2 process(es)"
    assert count(rows["answered"]) == 36
    assert count(rows["lost"]) == count(rows["crossed"]) == 0


def test_with_the_bot_every_client_is_checked_against_its_sequence_alone(
    greetings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loadtest(
        capsys, greetings, "--clients", "20", "--messages", "5", "--bot", GREETINGS, "--seed", "3"
    )

    assert code == 0, out + err
    assert f"({GREETINGS}, seed 3)" in out.splitlines()[0]
    assert count(table(out)["answered"]) == 100
    assert "isolation: 20 clients checked against their sequence run alone" in out
    assert "isolated: every client saw what it sees alone" in out


def test_a_racy_bot_is_reported_not_isolated_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every client asks for tickets; alone, each one's first ticket is number 1.
    with serving(tmp_path, RACY) as url:
        code, out, _ = loadtest(
            capsys, url, "--clients", "4", "--messages", "6", "--bot", RACY, "--ramp", "0"
        )

    assert code == 1
    assert count(table(out)["lost"]) == 0
    assert "NOT ISOLATED" in out
    assert 'alone:    ["Your ticket is number 1"]' in out
    replay = next(line for line in out.splitlines() if "replay:" in line)
    assert replay.split("replay:", 1)[1].split()[:5] == [
        "python",
        "-m",
        "runtime",
        "loadtest",
        ws_url(url),
    ]
    assert out.rstrip().endswith("not isolated")


def test_a_server_rate_limit_throttles_clients_who_wait_and_resend_losing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --rate 1 allows bursts of 2: a closed loop of 5 messages outruns it unless every reply
    # took over half a second.
    with serving(tmp_path, GREETINGS, "--rate", "1") as url:
        code, out, err = loadtest(capsys, url, "--clients", "2", "--messages", "5")

    assert code == 0, out + err
    rows = table(out)
    assert count(rows["throttled"]) > 0
    assert count(rows["answered"]) == 10
    assert count(rows["errors"]) == 0
    assert count(rows["lost"]) == 0


def test_a_rate_limit_caps_the_clients_without_changing_the_counts(
    greetings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loadtest(
        capsys, greetings, "--clients", "10", "--messages", "3", "--rate-limit", "1000"
    )

    assert code == 0, out + err
    rows = table(out)
    assert "capped at 1,000/s" in rows["messages/s"]
    assert count(rows["answered"]) == 30


# -- what goes wrong --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # closed again: nothing listens there
    code, out, err = loadtest(capsys, f"http://127.0.0.1:{port}", "--clients", "3")

    assert code == 2
    assert out == ""
    assert err.startswith(f"error: cannot reach ws://127.0.0.1:{port}/ws: ")
    assert "is the server running" in err


def test_a_bot_that_cannot_be_loaded_exits_2_before_any_client_connects(
    greetings: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loadtest(capsys, greetings, "--bot", "no/such/bot.py")

    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "no/such/bot.py" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clients", "0"], "argument --clients: expected a number from 1 to 10,000, got 0"),
        (["--messages", "many"], "argument --messages: expected a whole number, got 'many'"),
        (["--clients", "2", "--processes", "3"], "--processes 3 is more than --clients 2"),
        (["--rate-limit", "-5"], "argument --rate-limit: the rate must be a positive number"),
        (["--timeout", "0"], "argument --timeout: expected more than 0 seconds"),
    ],
)
def test_bad_arguments_exit_2_saying_what_is_wrong(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["loadtest", "http://127.0.0.1:1", *args])

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_url_of_another_scheme_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["loadtest", "ftp://127.0.0.1:8000"])

    assert exit_.value.code == 2
    assert "expected an http://, https://, ws:// or wss:// URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "endpoint"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws"),
        ("ws://127.0.0.1:8000/ws", "ws://127.0.0.1:8000/ws"),
        ("ws://127.0.0.1:8000/ws/", "ws://127.0.0.1:8000/ws"),
        ("https://chat.example.com", "wss://chat.example.com/ws"),
        ("localhost:9000", "ws://localhost:9000/ws"),
        ("http://host:80/chat/", "ws://host:80/chat/ws"),
    ],
)
def test_a_server_url_is_normalised_to_its_ws_endpoint(given: str, endpoint: str) -> None:
    assert ws_url(given) == endpoint


# -- a server that breaks the protocol --------------------------------------------------------


@contextmanager
def fake_server(answer: str) -> Iterator[str]:
    """A ``/ws`` server that answers each message wrongly: ``answer`` is "crossed" or "error"."""

    async def handle(connection: ServerConnection) -> None:
        async for text in connection:
            frame = orjson.loads(text)
            if frame["type"] == "resume":
                await connection.send('{"type":"session","token":"k.t","resumed":false}')
            elif answer == "crossed":
                reply = {"type": "replies", "in_reply_to": "someone-else", "replies": []}
                await connection.send(orjson.dumps(reply).decode())
            else:
                error = {"type": "error", "code": "overloaded", "message": "busy"}
                await connection.send(orjson.dumps({**error, "in_reply_to": frame["id"]}).decode())

    ready = threading.Event()
    stop: list[asyncio.Future[None]] = []
    port: list[int] = []

    async def run() -> None:
        stop.append(asyncio.get_running_loop().create_future())
        async with serve(handle, "127.0.0.1", 0) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            await stop[0]

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"ws://127.0.0.1:{port[0]}/ws"
    finally:
        loop.call_soon_threadsafe(stop[0].set_result, None)
        thread.join(10)
        loop.close()


def test_replies_naming_another_id_are_crossed_and_the_unanswered_lost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_server("crossed") as url:
        code, out, _ = loadtest(
            capsys, url, "--clients", "3", "--messages", "2", "--timeout", "0.5"
        )

    assert code == 1
    rows = table(out)
    assert count(rows["crossed"]) == 3
    assert count(rows["lost"]) == 3  # each client's first message, never answered
    assert count(rows["answered"]) == 0
    assert "no reply to 0-0 within 0.5 s" in out
    assert out.rstrip().endswith("FAILED: 3 lost, 3 crossed, 3 unsent")


def test_error_frames_settle_their_messages_and_are_counted_by_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_server("error") as url:
        code, out, _ = loadtest(capsys, url, "--clients", "2", "--messages", "3")

    assert code == 0  # refused, not lost: the server said so
    rows = table(out)
    assert rows["errors"] == "6 (overloaded 6)"
    assert count(rows["answered"]) == 0
    assert count(rows["lost"]) == 0


# -- the wire ---------------------------------------------------------------------------------


def server_frame(payload: bytes, opcode: int = TEXT, *, final: bool = True) -> bytes:
    size = len(payload)
    head = bytes(((0x80 if final else 0) | opcode,))
    if size < 126:
        return head + bytes((size,)) + payload
    return head + bytes((126,)) + size.to_bytes(2, "big") + payload


def test_the_frame_reader_joins_split_reads_fragments_and_passes_control_frames() -> None:
    reader = FrameReader()
    big = b"x" * 300
    stream = (
        server_frame(b"he", final=False)
        + server_frame(b"llo", 0x0)
        + server_frame(b"", PING)
        + server_frame(big)
    )

    got = [
        message for at in range(0, len(stream), 7) for message in reader.feed(stream[at : at + 7])
    ]

    assert got == [(TEXT, b"hello"), (PING, b""), (TEXT, big)]


def test_the_frame_reader_refuses_a_continuation_out_of_nowhere() -> None:
    with pytest.raises(WireError, match="continuation"):
        FrameReader().feed(server_frame(b"x", 0x0))


def test_client_frames_are_masked_and_unmask_to_the_payload() -> None:
    frame = encode(b'{"type":"message"}', CLOSE)

    assert frame[0] == 0x80 | CLOSE
    assert frame[1] == 0x80 | 18
    mask = frame[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:])) == b'{"type":"message"}'
