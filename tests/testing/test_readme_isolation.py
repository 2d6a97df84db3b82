"""The README's "Testing your bot for isolation" examples are real and run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from runtime.cli import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Testing your bot for isolation", 1)[1].split("\n## ", 1)[0]


def test_the_cli_example_parses() -> None:
    [command] = re.findall(r"```bash\n(.*?)\n```", SECTION, re.S)
    words = shlex.split(command)

    assert words[:3] == ["python", "-m", "runtime"]
    args = build_parser().parse_args(words[3:])
    assert (args.users, args.messages, args.seed) == (8, 10, 1)


def test_the_pytest_example_runs_on_an_example_bot() -> None:
    [snippet] = re.findall(r"```py\n(.*?)```", SECTION, re.S)
    code = snippet.replace("path/to/bot.py", "runtime/examples/greetings.py")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)

    test = namespace["test_my_bot_is_isolated"]
    assert callable(test)
    test()
