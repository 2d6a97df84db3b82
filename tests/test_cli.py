"""Tests of the command line: ``python -m runtime chat BOT`` run as a real subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import Bot, File, Runtime, Session
from runtime.cli import main
from runtime.platforms.terminal import TerminalChat

ROOT = Path(__file__).resolve().parent.parent
GREETINGS = "runtime/examples/greetings.py"
NOTEBOOK = "runtime/examples/notebook.py"
NOTEBOOK_WELCOME = [
    "bot> Hi! I am your notebook and I keep up to 3 notes.",
    'bot> Say "add a note", "list my notes" or "clear notes", or send me a picture.',
    "bot> [options] 1) add a note  2) list my notes  3) clear notes",
]


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``python -m runtime ARGS`` from the project root, feeding it ``stdin``."""
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def run_cli_bytes(
    *args: str, stdin: bytes, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m runtime ARGS`` feeding it raw bytes, with ``env`` added to os.environ."""
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def chat(bot: str, stdin: str, *options: str) -> tuple[list[str], str]:
    """Chat with ``bot`` and return its stdout lines and its stderr; assert it exited with 0."""
    result = run_cli("chat", bot, *options, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines(), result.stderr


# -- chatting ---------------------------------------------------------------------------------


def test_chat_prints_the_replies_to_each_line_and_the_state() -> None:
    lines, stderr = chat(GREETINGS, "hi\ngood\n/state\n/quit\n")

    assert lines == [
        "bot> Hi! How are you?",
        "bot> I am glad to hear that!",
        "state: initial",
        "data: {}",
    ]
    assert stderr == ""


def test_chat_on_an_sqlite_store_continues_the_conversation_in_a_new_process(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'sessions.db'}"  # "sqlite:////tmp/...": an absolute path
    first, _ = chat(GREETINGS, "hi\n", "--store", store)
    assert first == ["bot> Hi! How are you?"]
    second, _ = chat(GREETINGS, "/state\ngood\n", "--store", store)
    assert second[0] == "state: hello"  # where the first process left the session
    assert second[-1] == "bot> I am glad to hear that!"


@pytest.mark.parametrize("url", ["postgres://db/x", "sqlite://", "nonsense"])
def test_chat_refuses_a_store_url_it_does_not_know(url: str) -> None:
    result = run_cli("chat", GREETINGS, "--store", url)
    assert result.returncode == 2
    assert "--store" in result.stderr
    assert "sqlite:///" in result.stderr


def test_chat_accepts_a_dotted_module_name() -> None:
    lines, _ = chat("runtime.examples.greetings", "hello\nawful\n")

    assert lines == ["bot> Hi! How are you?", "bot> I'm sorry to hear that..."]


def test_chat_prints_the_initial_body_replies_first() -> None:
    lines, _ = chat(NOTEBOOK, "")

    assert lines == NOTEBOOK_WELCOME


def test_chat_shows_no_prompt_when_stdin_is_not_a_terminal() -> None:
    lines, _ = chat(GREETINGS, "hi\n")

    assert not any("you>" in line for line in lines)


def test_chat_ends_at_quit_and_ignores_later_lines() -> None:
    lines, _ = chat(GREETINGS, "hi\n/quit\ngood\n")

    assert lines == ["bot> Hi! How are you?"]


def test_chat_skips_blank_lines() -> None:
    lines, _ = chat(GREETINGS, "\n   \nhi\n")

    assert lines == ["bot> Hi! How are you?"]


def test_state_shows_the_session_data_as_json() -> None:
    lines, _ = chat(NOTEBOOK, "add a note\nbuy milk\n/state\n")

    assert lines[-2:] == ["state: menu", 'data: {"note_count": 1, "notes": ["buy milk"]}']


def test_a_double_slash_sends_a_message_that_starts_with_a_slash() -> None:
    lines, _ = chat(NOTEBOOK, "add a note\n//etc/hosts\n")

    assert lines[-1] == "bot> Noted: /etc/hosts (1/3)"


def test_reset_starts_the_session_again() -> None:
    lines, _ = chat(NOTEBOOK, "add a note\nbuy milk\n/reset\n/state\n")

    assert lines[-6:] == [
        "(session 'terminal' reset)",
        *NOTEBOOK_WELCOME,
        "state: menu",
        'data: {"note_count": 0}',
    ]


def test_help_lists_every_command() -> None:
    lines, _ = chat(GREETINGS, "/help\n")

    text = "\n".join(lines)
    for command in ("/file", "/event", "/reset", "/state", "/help", "/quit"):
        assert command in text


def test_an_unknown_command_is_an_error_line_and_the_chat_goes_on() -> None:
    lines, stderr = chat(GREETINGS, "/dance\nhi\n")

    assert lines == ["bot> Hi! How are you?"]
    assert stderr == "error: unknown command /dance; type /help to list the commands\n"


def test_the_session_option_chooses_the_session_id() -> None:
    lines, _ = chat(GREETINGS, "/reset\n", "--session", "alice")

    assert lines == ["(session 'alice' reset)"]


def test_verbose_chat_still_chats() -> None:
    lines, _ = chat(GREETINGS, "hi\n", "--verbose")

    assert lines == ["bot> Hi! How are you?"]


def test_a_body_that_raises_is_logged_on_stderr_and_the_chat_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "crashy.py"
    path.write_text(
        textwrap.dedent(
            """\
            from runtime import Bot

            bot = Bot("crashy")
            initial = bot.new_state("initial", initial=True)

            def fallback(session):
                if session.message == "crash":
                    raise ValueError("kaboom")
                session.reply("ok")

            initial.set_fallback_body(fallback)
            """
        )
    )

    lines, stderr = chat(str(path), "crash\nfine\n")

    assert lines == ["bot> ok"]
    assert "body_failed" in stderr
    assert "kaboom" in stderr


# -- files and events -------------------------------------------------------------------------


def test_file_sends_a_real_file_and_guesses_its_type(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG fake")

    lines, _ = chat(NOTEBOOK, f"/file {picture}\n/state\n")

    assert lines[3:] == [
        "bot> Saved picture cat.png",
        "bot> [image] cat.png (image/png, 9 bytes)",
        "state: menu",
        'data: {"note_count": 0, "picture": "cat.png"}',
    ]


def test_file_takes_a_quoted_path_and_an_explicit_mime_type(tmp_path: Path) -> None:
    picture = tmp_path / "my holiday.bin"
    picture.write_bytes(b"\xff\xd8 fake jpeg")

    lines, _ = chat(NOTEBOOK, f'/file "{picture}" image/jpeg\n')

    assert lines[3:] == [
        "bot> Saved picture my holiday.bin",
        "bot> [image] my holiday.bin (image/jpeg, 12 bytes)",
    ]


def test_file_of_a_type_the_bot_refuses_gets_the_fallback_reply(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")

    lines, _ = chat(NOTEBOOK, f"/file {text}\n")

    assert lines[3:] == [
        'bot> Sorry, I didn\'t get that. Say "add a note", "list my notes" or "clear notes", '
        "or send me a picture.",
        "bot> [options] 1) add a note  2) list my notes  3) clear notes",
    ]


def test_file_with_a_missing_path_is_an_error_line_and_the_chat_goes_on(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"

    lines, stderr = chat(NOTEBOOK, f"/file {missing}\n/file\nmy notes\n")

    assert lines[3:] == ["bot> You have no notes yet."]
    assert stderr.splitlines() == [
        f"error: cannot read {missing}: No such file or directory; check the path",
        'error: usage: /file PATH [MIME] (quote a path with spaces: /file "my cat.png")',
    ]


def test_event_sends_a_json_payload() -> None:
    lines, _ = chat(NOTEBOOK, '/event reminder {"text": "stretch your legs"}\n')

    assert lines[3:] == ["bot> Reminder: stretch your legs"]


def test_event_without_payload_sends_an_empty_one() -> None:
    lines, _ = chat(NOTEBOOK, "/event reminder\n")

    assert lines[3:] == ["bot> Reminder: (no text)"]


def test_event_with_bad_json_is_an_error_line_and_the_chat_goes_on() -> None:
    lines, stderr = chat(
        NOTEBOOK, "/event reminder {text: stretch}\n/event reminder [1, 2]\n/event\n"
    )

    assert lines == NOTEBOOK_WELCOME
    errors = stderr.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith("error: the payload of /event is not valid JSON (")
    assert errors[0].endswith('give a JSON object, e.g. /event reminder {"text": "stretch"}')
    assert errors[1] == "error: the payload of /event must be a JSON object {...}, not a list"
    assert errors[2].startswith("error: usage: /event NAME [JSON]")


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            "error: the payload of /event is nested too deeply to read; give a JSON object",
            id="nested-100000-deep",
        ),
        pytest.param(
            '{"n": ' + "1" * 5000 + "}",
            "error: the payload of /event is not valid JSON (Exceeds the limit (4300 digits)",
            id="number-of-5000-digits",
        ),
    ],
)
def test_event_with_an_unreadable_payload_is_one_error_line_and_the_chat_goes_on(
    payload: str, complaint: str
) -> None:
    lines, stderr = chat(NOTEBOOK, f'/event reminder {payload}\n/event reminder {{"text": "ok"}}\n')

    assert lines[3:] == ["bot> Reminder: ok"]
    assert stderr.startswith(complaint)
    assert stderr.count("\n") == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_file_that_is_not_a_regular_file_is_an_error_line_and_the_chat_goes_on(
    tmp_path: Path,
) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # reading it would block for ever: nobody writes to it

    lines, stderr = chat(NOTEBOOK, f"/file {pipe}\nmy notes\n")

    assert lines[3:] == ["bot> You have no notes yet."]
    assert stderr == f"error: {pipe} is not a regular file; give the path of a file\n"


def test_file_too_big_to_send_is_an_error_line_and_the_chat_goes_on(tmp_path: Path) -> None:
    from runtime.platforms.terminal import MAX_FILE_BYTES  # noqa: PLC0415

    big = tmp_path / "big.png"
    with big.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written

    lines, stderr = chat(NOTEBOOK, f"/file {big}\nmy notes\n")

    assert lines[3:] == ["bot> You have no notes yet."]
    assert stderr == (
        f"error: {big} has {MAX_FILE_BYTES + 1:,} bytes; /file sends at most {MAX_FILE_BYTES:,}\n"
    )


def test_file_with_a_nul_in_its_path_is_an_error_line_and_the_chat_goes_on() -> None:
    lines, stderr = chat(NOTEBOOK, "/file a\x00b.png\nmy notes\n")

    assert lines[3:] == ["bot> You have no notes yet."]
    assert stderr == "error: cannot read a\x00b.png: embedded null byte; check the path\n"


# A strict stdin raises on a bad byte; an escaping one (the default under C.UTF-8) hands the
# bot lone surrogates. Either way the line must be reported and skipped, whatever the locale.
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8:surrogateescape"])
def test_a_line_that_is_not_utf8_is_an_error_line_and_the_chat_goes_on(encoding: str) -> None:
    stdin = b"add a note\n\xff\xfe caf\xe9\nbuy milk\n/state\n"

    result = run_cli_bytes("chat", NOTEBOOK, stdin=stdin, env={"PYTHONIOENCODING": encoding})

    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode(errors="replace").splitlines()[-3:] == [
        "bot> Noted: buy milk (1/3)",
        "state: menu",
        'data: {"note_count": 1, "notes": ["buy milk"]}',
    ]
    assert result.stderr == b"error: line 2 is not valid utf-8 text; it was not sent\n"


def test_a_reply_that_stdout_cannot_encode_is_printed_escaped() -> None:
    stdin = b'/event reminder {"text": "\\ud800"}\nmy notes\n'  # JSON may spell a lone surrogate

    result = run_cli_bytes("chat", NOTEBOOK, stdin=stdin, env={"PYTHONIOENCODING": "utf-8"})

    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode(errors="replace").splitlines()[3:] == [
        "bot> Reminder: \\ud800",
        "bot> You have no notes yet.",
    ]
    assert result.stderr == b""


# -- failures and arguments -------------------------------------------------------------------


def test_a_bot_path_that_does_not_exist_exits_2_with_a_message_and_no_traceback() -> None:
    result = run_cli("chat", "no/such/bot.py")

    assert result.returncode == 2
    assert result.stderr.startswith("error: bot file 'no/such/bot.py' not found")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bot_that_raises_on_import_exits_2_naming_the_exception(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("1 / 0\n")

    result = run_cli("chat", str(path))

    assert result.returncode == 2
    assert "raised ZeroDivisionError: division by zero" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bot_without_an_initial_state_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "incomplete.py"
    path.write_text("from runtime import Bot\nbot = Bot('incomplete')\n")

    result = run_cli("chat", str(path))

    assert result.returncode == 2
    assert result.stderr.startswith("error: bot 'incomplete' has no initial state")
    assert "Traceback" not in result.stderr


def test_missing_arguments_exit_2_with_the_usage() -> None:
    result = run_cli("chat")

    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "BOT" in result.stderr


def test_an_unknown_command_exits_2() -> None:
    result = run_cli("dance", GREETINGS)

    assert result.returncode == 2
    assert "invalid choice: 'dance'" in result.stderr


def test_an_empty_session_id_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", GREETINGS, "--session", ""])

    assert info.value.code == 2
    assert "a session id cannot be empty" in capsys.readouterr().err


def test_main_without_a_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])

    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


# -- the terminal chat in-process: prompts and timeouts ---------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def greetings_runtime() -> Iterator[Runtime]:
    from runtime.examples.greetings import bot  # noqa: PLC0415

    with Runtime(bot) as rt:
        yield rt


def test_a_terminal_gets_a_banner_and_a_prompt_per_line(greetings_runtime: Runtime) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    terminal = TerminalChat(
        greetings_runtime, "terminal", stdin=FakeTerminal("hi\n"), stdout=stdout, stderr=stderr
    )

    assert terminal.run() == 0
    assert stdout.getvalue().splitlines() == [
        "Chatting with bot 'greetings' as session 'terminal'. Type /help for commands.",
        "you> bot> Hi! How are you?",
        "you> ",
    ]


def test_a_reply_that_takes_too_long_is_an_error_line_and_the_chat_goes_on() -> None:
    release = threading.Event()
    bot = Bot("slow")
    initial = bot.new_state("initial", initial=True)

    def fallback(session: Session) -> None:
        if session.message == "slow":
            release.wait(10)
        session.reply(f"done {session.message}")

    initial.set_fallback_body(fallback)
    stdout, stderr = io.StringIO(), io.StringIO()
    with Runtime(bot, workers=2) as rt:
        terminal = TerminalChat(
            rt, "u", stdin=io.StringIO("slow\n"), stdout=stdout, stderr=stderr, timeout=0.05
        )
        try:
            assert terminal.run() == 0
        finally:
            release.set()
        assert rt.send_message("u", "fast").result(timeout=5) == ["done fast"]

    assert stdout.getvalue() == ""
    assert stderr.getvalue().startswith("error: no reply within 0.05 s")


def test_multi_line_replies_line_up_under_the_prefix() -> None:
    bot = Bot("poet")
    bot.new_state("initial", initial=True).set_body(lambda session: session.reply("roses\nviolets"))
    stdout = io.StringIO()
    with Runtime(bot) as rt:
        TerminalChat(rt, "u", stdin=io.StringIO(""), stdout=stdout).run()

    assert stdout.getvalue() == "bot> roses\n     violets\n"


def test_rich_replies_are_shown_with_their_kind() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(1016)

    def body(session: Session) -> None:
        session.reply("plain")
        session.reply_markdown("# Title\n*item*")
        session.reply_html("<b>bold</b>")
        session.reply_options(["yes", "no"])
        session.reply_file(File(file_name="notes.txt", file_data=b"abc"))
        session.reply_image(png, name="cat.png")
        session.reply_location(48.85, 2.35)
        session.reply_json({"b": [1, 2], "a": "x"})

    bot = Bot("rich")
    bot.new_state("initial", initial=True).set_body(body)
    stdout = io.StringIO()
    with Runtime(bot) as rt:
        TerminalChat(rt, "u", stdin=io.StringIO(""), stdout=stdout).run()

    assert stdout.getvalue().splitlines() == [
        "bot> plain",
        "bot> [markdown] # Title",
        "     *item*",
        "bot> [html] <b>bold</b>",
        "bot> [options] 1) yes  2) no",
        "bot> [file] notes.txt (text/plain, 3 bytes)",
        "bot> [image] cat.png (image/png, 1,024 bytes)",
        "bot> [location] 48.85, 2.35",
        'bot> [json] {"a": "x", "b": [1, 2]}',
    ]


def test_an_option_is_picked_by_typing_its_text_as_help_says() -> None:
    bot = Bot("picker")
    initial = bot.new_state("initial", initial=True)
    initial.set_body(lambda session: session.reply_options(["tea", "coffee"]))
    initial.set_fallback_body(lambda session: session.reply(f"one {session.message}"))
    stdout = io.StringIO()
    with Runtime(bot) as rt:
        TerminalChat(rt, "u", stdin=io.StringIO("/help\ncoffee\n"), stdout=stdout).run()

    lines = stdout.getvalue().splitlines()
    assert lines[0] == "bot> [options] 1) tea  2) coffee"
    assert "To pick one of the [options] a bot shows, type its text (not its number)." in lines
    assert lines[-1] == "bot> one coffee"


def test_a_closed_stdin_exits_2_with_a_reason(
    greetings_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", None)  # what Python sets when started with <&-
    stdout, stderr = io.StringIO(), io.StringIO()

    code = TerminalChat(greetings_runtime, "u", stdout=stdout, stderr=stderr).run()

    assert code == 2
    assert stderr.getvalue() == "error: there is no standard input to read the chat from\n"


class FailingInput(io.StringIO):
    def readline(self, size: int | None = -1, /) -> str:
        raise OSError(5, "Input/output error")


def test_stdin_that_fails_to_read_exits_2_with_a_reason(greetings_runtime: Runtime) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    terminal = TerminalChat(
        greetings_runtime, "u", stdin=FailingInput(), stdout=stdout, stderr=stderr
    )

    assert terminal.run() == 2
    assert stderr.getvalue() == (
        "error: cannot read standard input: [Errno 5] Input/output error\n"
    )


def test_state_that_json_cannot_show_is_an_error_line_and_the_chat_goes_on() -> None:
    bot = Bot("loop")

    def body(session: Session) -> None:
        loop: list[object] = []
        loop.append(loop)
        session.set("loop", loop)
        session.reply("looped")

    bot.new_state("initial", initial=True).set_body(body)
    stdout, stderr = io.StringIO(), io.StringIO()
    with Runtime(bot) as rt:
        terminal = TerminalChat(
            rt, "u", stdin=io.StringIO("/state\n"), stdout=stdout, stderr=stderr
        )
        assert terminal.run() == 0

    assert stdout.getvalue() == "bot> looped\nstate: initial\n"
    assert stderr.getvalue() == "error: cannot show the session data: Circular reference detected\n"


def test_ctrl_c_while_the_bot_loads_exits_130_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "interrupted.py"
    path.write_text("raise KeyboardInterrupt  # as if Ctrl-C came while the bot loads\n")

    result = run_cli("chat", str(path))

    assert result.returncode == 130
    assert result.stderr == "interrupted\n"
