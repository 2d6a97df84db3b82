"""``python -m runtime check-isolation``: exit codes, the report, the replay command."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.cli import build_parser, main
from runtime.testing import seeded_chooser

ROOT = Path(__file__).resolve().parents[2]
RACY = "tests/testing/racy_bots"


def check(*args: str, shrink: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python -m runtime check-isolation ARGS`` from the project root (without shrinking
    unless asked: it is tested on its own below)."""
    options = [] if shrink else ["--no-shrink"]
    return subprocess.run(
        [sys.executable, "-m", "runtime", "check-isolation", *args, *options],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_an_isolated_bot_exits_0_with_a_summary_table() -> None:
    result = check("runtime/examples/notebook.py", "--seed", "4", "--users", "3")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "check-isolation runtime/examples/notebook.py: seed 4, 3 users, 18 events"
    assert lines[2].split() == [
        "mode",
        "users",
        "events",
        "events/s",
        "schedules",
        "schedules/s",
        "divergences",
    ]
    assert [line.split()[0] for line in lines[4:6]] == ["simulate", "load"]
    assert lines[-1] == "isolated: every user saw alone what they saw together"
    assert result.stderr == ""  # no progress bar when stderr is not a terminal, no log lines


def test_a_racy_bot_exits_1_with_a_report_whose_replay_command_reproduces_it() -> None:
    result = check(f"{RACY}/last_user.py", "--seed", "2", "--mode", "simulate")

    assert result.returncode == 1
    assert "NOT ISOLATED" in result.stdout
    replay = next(
        line.split("replay:", 1)[1].strip()
        for line in result.stdout.splitlines()
        if "replay:" in line
    )
    words = shlex.split(replay)
    assert words[:4] == ["python", "-m", "runtime", "check-isolation"]
    again = check(*words[4:])
    assert again.returncode == 1
    assert divergences(again.stdout) == divergences(result.stdout)  # replays exactly


def divergences(report: str) -> str:
    return report.split("NOT ISOLATED", 1)[1].split("\nShrunk in ", 1)[0]


def test_a_divergence_is_shrunk_to_a_small_case_that_replays(tmp_path: Path) -> None:
    result = check(
        f"{RACY}/inside_turn.py", "--seed", "3", "--users", "6", "--mode", "simulate", shrink=True
    )
    assert result.returncode == 1
    shrunk = result.stdout.split("\nShrunk in ", 1)[1]
    head, rest = shrunk.split(":", 1)
    assert re.fullmatch(
        r"[\d.]+ s \(\d+ checks\) to 2 users, 2 steps, schedule \d+ \(1 switch\)", head
    )
    saved = rest.split("Save these scripts as SHRUNK.json to replay it:\n", 1)[1]
    assert len(json.loads(saved)) == 2
    (tmp_path / "SHRUNK.json").write_text(saved)
    replay = next(
        line.split("replay:", 1)[1].strip() for line in rest.splitlines() if "replay:" in line
    )
    words = shlex.split(replay)
    assert words[words.index("--scripts") + 1] == "SHRUNK.json"
    words[words.index("--scripts") + 1] = str(tmp_path / "SHRUNK.json")
    for _ in range(3):  # the shrunk case replays, the same every time
        again = check(*words[4:])
        assert again.returncode == 1
        assert "1 switch(es): " in again.stdout
        assert divergences(again.stdout).count("together:") == 1


def test_a_body_error_caused_by_a_race_is_reported_not_logged() -> None:
    result = check(f"{RACY}/stashed_session.py", "--seed", "0", "--mode", "simulate")

    assert result.returncode == 1
    assert "bodies raised" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_scripts_can_come_from_a_json_file(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"ann": ["hello"], "bob": ["bye"]}))

    # A seed whose simulation lets ann say hello before bob says bye.
    seed = next(s for s in range(100) if seeded_chooser(s)(["ann", "bob"]) == "ann")

    result = check(
        f"{RACY}/last_user.py", "--scripts", str(scripts), "--mode", "simulate", "--seed", str(seed)
    )

    assert result.returncode == 1
    assert "2 users, 2 events" in result.stdout
    assert 'alone:    ["Goodbye, stranger!"]' in result.stdout
    assert 'together: ["Goodbye, ann!"]' in result.stdout
    assert f"--scripts {scripts}" in result.stdout


def test_ignore_key_is_passed_on_and_shows_in_the_replay_command() -> None:
    result = check(
        f"{RACY}/shared_counter.py", "--seed", "1", "--mode", "simulate", "--ignore-key", "x"
    )

    assert result.returncode == 1
    assert "--ignore-key x" in result.stdout


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["no/such/bot.py"], "error: bot file 'no/such/bot.py' not found"),
        (["runtime/examples/greetings.py", "--users", "0"], "at least 1"),
        (["runtime/examples/greetings.py", "--mode", "sideways"], "invalid choice"),
        (["runtime/examples/greetings.py", "--concurrency", "x"], "whole number"),
        (["runtime/examples/greetings.py", "--scripts", "no/such.json"], "cannot read"),
    ],
)
def test_bad_arguments_and_unloadable_bots_exit_2_without_a_traceback(
    args: list[str], complaint: str
) -> None:
    result = check(*args)

    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bot_without_an_initial_state_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "incomplete.py"
    path.write_text("from runtime import Bot\nbot = Bot('incomplete')\n")

    result = check(str(path))

    assert result.returncode == 2
    assert "no initial state" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_seed_a_random_one_is_chosen_and_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check-isolation", "runtime/examples/greetings.py", "--users", "2"])

    assert code == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith("check-isolation runtime/examples/greetings.py: seed ")


# -- bad scripts files: exit 2 with one line naming the user and step, never a traceback ----


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        pytest.param(
            json.dumps({"a" * 300: ["hi"]}),
            "has 300 characters; a user id is a session id, at most 256 characters",
            id="user-id-too-long",
        ),
        pytest.param(
            json.dumps({"bob": ["hi", {"event": ""}]}),
            "user 'bob', step 1: an event name is a non-empty string, got ''",
            id="event-name-empty",
        ),
        pytest.param(
            '{"bob": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "nests its JSON too deeply to read",
            id="json-too-deep",
        ),
    ],
)
def test_a_bad_scripts_file_exits_2_with_a_one_line_reason(
    tmp_path: Path, content: str, complaint: str
) -> None:
    scripts = tmp_path / "scripts.json"
    scripts.write_text(content)

    result = check("runtime/examples/greetings.py", "--scripts", str(scripts), "--seed", "1")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: cannot read the scripts: {scripts}")
    assert complaint in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
    assert result.stdout == ""


# -- caps on the size of a run: refused before anything runs ---------------------------------


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make check_isolation fail the test if the command line gets as far as running it."""

    def run(*args: Any, **kwargs: Any) -> None:
        pytest.fail("check_isolation ran: the arguments should have been refused first")

    monkeypatch.setattr("runtime.testing.check_isolation", run)


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--users", "2000000", "argument --users: expected at most 10,000, got 2,000,000"),
        ("--messages", "10001", "argument --messages: expected at most 10,000, got 10,001"),
        ("--concurrency", "100000", "argument --concurrency: expected at most 256, got 100,000"),
        ("--users", "9" * 5000, "argument --users: expected a whole number, got '99999"),
        ("--seed", "1e3", "argument --seed: expected a whole number, got '1e3'"),
    ],
)
def test_counts_beyond_their_caps_are_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], option: str, value: str, complaint: str
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["check-isolation", "bot.py", option, value])

    assert info.value.code == 2
    assert complaint in capsys.readouterr().err


def test_a_cap_leaves_realistic_runs_alone() -> None:
    argv = ["check-isolation", "bot.py", "--users", "10000", "--messages", "20"]
    args = build_parser().parse_args([*argv, "--concurrency", "256"])

    assert (args.users, args.messages, args.concurrency) == (10_000, 20, 256)


@pytest.mark.usefixtures("nothing_runs")
def test_users_times_messages_beyond_the_cap_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check-isolation", "bot.py", "--users", "10000", "--messages", "100"])

    assert info.value.code == 2
    assert "--users 10,000 x --messages 100 is 1,000,000 steps; at most 200,000" in (
        capsys.readouterr().err
    )


@pytest.mark.usefixtures("nothing_runs")
@pytest.mark.parametrize(
    ("users", "steps", "complaint"),
    [
        (10_001, 1, "10,001 users; at most 10,000"),
        (1, 10_001, "user 'user-0' has 10,001 steps; at most 10,000"),
        (21, 10_000, "210,000 steps in all; at most 200,000"),
    ],
)
def test_a_scripts_file_beyond_the_caps_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], users: int, steps: int, complaint: str
) -> None:
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({f"user-{n}": ["hi"] * steps for n in range(users)}))

    code = main(["check-isolation", "bot.py", "--scripts", str(scripts)])

    assert code == 2
    assert capsys.readouterr().err == f"error: {scripts} is too big to check: {complaint}\n"


# -- other inputs that used to end in a traceback --------------------------------------------


def test_ctrl_c_exits_130_without_a_traceback(tmp_path: Path) -> None:
    bot = tmp_path / "interrupted.py"
    bot.write_text("raise KeyboardInterrupt  # as if Ctrl-C came while the bot loads\n")

    result = check(str(bot))

    assert result.returncode == 130
    assert result.stderr == "interrupted\n"


def test_a_report_quoting_undecodable_arguments_prints_on_a_strict_stdout() -> None:
    key = "caf\udce9"  # the byte 0xe9 of a Latin-1 "cafe", as Python reads it from argv
    options = ["--seed", "1", "--mode", "simulate", "--ignore-key", key]
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "check-isolation", f"{RACY}/shared_counter.py", *options],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},  # strict, whatever the locale
    )

    assert result.returncode == 1, result.stderr.decode(errors="replace")
    assert b"--ignore-key 'caf\\udce9'" in result.stdout
    assert result.stderr == b""


def test_a_bot_that_ends_its_own_process_gets_a_clear_error(tmp_path: Path) -> None:
    bot = tmp_path / "exit_bot.py"
    bot.write_text(
        "import os\nfrom runtime import Bot\n\nbot = Bot('exits')\n"
        "start = bot.new_state('start', initial=True)\n"
        "start.set_body(lambda session: os._exit(3))\n"
    )
    result = check(str(bot), "--seed", "1", "--users", "2", "--messages", "2")
    assert result.returncode == 2
    assert result.stderr.startswith("error: a run of the bot ended its own process (")
    assert "Traceback" not in result.stderr
