"""Tests of the command line: ``python -m runtime chat BOT`` run as a real subprocess."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import Bot, Runtime, Session
from runtime.cli import main
from runtime.platforms.terminal import TerminalChat

ROOT = Path(__file__).resolve().parent.parent
GREETINGS = "runtime/examples/greetings.py"
NOTEBOOK = "runtime/examples/notebook.py"
NOTEBOOK_WELCOME = [
    "bot> Hi! I am your notebook and I keep up to 3 notes.",
    'bot> Say "add a note", "list my notes" or "clear notes", or send me a picture.',
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

    assert lines[-5:] == [
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

    assert lines[2:] == [
        "bot> Saved picture cat.png",
        "state: menu",
        'data: {"note_count": 0, "picture": "cat.png"}',
    ]


def test_file_takes_a_quoted_path_and_an_explicit_mime_type(tmp_path: Path) -> None:
    picture = tmp_path / "my holiday.bin"
    picture.write_bytes(b"\xff\xd8 fake jpeg")

    lines, _ = chat(NOTEBOOK, f'/file "{picture}" image/jpeg\n')

    assert lines[2:] == ["bot> Saved picture my holiday.bin"]


def test_file_of_a_type_the_bot_refuses_gets_the_fallback_reply(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")

    lines, _ = chat(NOTEBOOK, f"/file {text}\n")

    assert lines[2:] == [
        'bot> Sorry, I didn\'t get that. Say "add a note", "list my notes" or "clear notes", '
        "or send me a picture."
    ]


def test_file_with_a_missing_path_is_an_error_line_and_the_chat_goes_on(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"

    lines, stderr = chat(NOTEBOOK, f"/file {missing}\n/file\nmy notes\n")

    assert lines[2:] == ["bot> You have no notes yet."]
    assert stderr.splitlines() == [
        f"error: cannot read {missing}: No such file or directory; check the path",
        'error: usage: /file PATH [MIME] (quote a path with spaces: /file "my cat.png")',
    ]


def test_event_sends_a_json_payload() -> None:
    lines, _ = chat(NOTEBOOK, '/event reminder {"text": "stretch your legs"}\n')

    assert lines[2:] == ["bot> Reminder: stretch your legs"]


def test_event_without_payload_sends_an_empty_one() -> None:
    lines, _ = chat(NOTEBOOK, "/event reminder\n")

    assert lines[2:] == ["bot> Reminder: (no text)"]


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
