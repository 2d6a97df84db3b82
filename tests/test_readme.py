"""The README stays true: its example runs and prints what it says, its commands exist."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_the_readme_example_prints_what_its_comments_say() -> None:
    [code] = re.findall(r"```python\n(.*?)```", README, re.S)
    expected = re.findall(r"print\(.*\)\s+# (.*)", code)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().splitlines() == expected


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    command = "python -m pip install -e '.[dev]' && python -m pytest"
    assert command in README
    assert command in (Path(__file__).parent.parent / ".ci" / "run").read_text()
