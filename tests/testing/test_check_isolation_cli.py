"""``python -m runtime check-isolation``: exit codes, the report, the replay command."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.testing import seeded_chooser

ROOT = Path(__file__).resolve().parents[2]
RACY = "tests/testing/racy_bots"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m runtime check-isolation ARGS`` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "runtime", "check-isolation", *args],
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
    assert lines[2].split() == ["mode", "users", "events", "events/s", "divergences"]
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
    return report.split("NOT ISOLATED", 1)[1]


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
