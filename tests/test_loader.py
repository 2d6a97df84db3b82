"""Tests of load_bot: bots from file paths and module names, fresh copies, clear errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime.examples.greetings
from runtime import Bot, BotLoadError
from runtime._loader import load_bot

EXAMPLES = Path(runtime.examples.greetings.__file__).parent

COUNTER_BOT = """\
from runtime import Bot

calls = 0

def make_bot():
    global calls
    calls += 1
    bot = Bot(f"counter-{calls}")
    bot.new_state("initial", initial=True)
    return bot
"""


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def bot_file(directory: Path, extra: str = "", name: str = "bot_file.py") -> Path:
    """Write a bot file defining a module-level ``bot`` named "tmp", plus ``extra`` code."""
    source = "from runtime import Bot\nbot = Bot('tmp')\nbot.new_state('initial', initial=True)\n"
    return write(directory, name, source + textwrap.dedent(extra))


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put ``tmp_path`` on sys.path, and forget the modules the test imported from it."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if name not in before and str(tmp_path) in str(getattr(module, "__file__", None)):
            del sys.modules[name]


# -- files ------------------------------------------------------------------------------------


def test_a_file_path_loads_the_module_level_bot() -> None:
    bot = load_bot(str(EXAMPLES / "greetings.py"))

    assert isinstance(bot, Bot)
    assert bot.name == "greetings"
    assert [state.name for state in bot.states] == ["initial", "hello", "good", "bad"]


def test_a_relative_file_path_loads_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot_file(tmp_path)
    monkeypatch.chdir(tmp_path)

    assert load_bot("bot_file.py").name == "tmp"


def test_a_file_is_loaded_once_per_path(tmp_path: Path) -> None:
    path = str(bot_file(tmp_path))

    assert load_bot(path) is load_bot(path)


def test_a_cached_file_module_keeps_its_globals_between_loads(tmp_path: Path) -> None:
    path = str(write(tmp_path, "counter.py", COUNTER_BOT))

    names = [load_bot(path).name for _ in range(3)]

    assert names == ["counter-1", "counter-2", "counter-3"]


def test_fresh_loads_of_a_file_start_from_fresh_module_globals(tmp_path: Path) -> None:
    path = str(write(tmp_path, "counter.py", COUNTER_BOT))

    names = [load_bot(path, fresh=True).name for _ in range(3)]

    assert names == ["counter-1", "counter-1", "counter-1"]


def test_fresh_loads_of_a_file_give_independent_bots(tmp_path: Path) -> None:
    path = str(bot_file(tmp_path))

    first, second = load_bot(path, fresh=True), load_bot(path, fresh=True)

    assert first is not second
    assert first.states[0] is not second.states[0]


def test_fresh_file_copies_leave_nothing_in_sys_modules(tmp_path: Path) -> None:
    path = str(bot_file(tmp_path))
    before = set(sys.modules)

    load_bot(path, fresh=True)

    assert set(sys.modules) == before


def test_a_bot_file_can_import_a_helper_beside_it(tmp_path: Path) -> None:
    write(tmp_path, "loader_test_sibling_helper.py", "GREETING = 'hello from the helper'\n")
    path = bot_file(tmp_path, "from loader_test_sibling_helper import GREETING\n")
    try:
        bot = load_bot(str(path))
    finally:
        sys.modules.pop("loader_test_sibling_helper", None)

    assert bot.name == "tmp"


def test_the_file_directory_leaves_sys_path_after_the_load(tmp_path: Path) -> None:
    path = bot_file(tmp_path)
    before = list(sys.path)

    load_bot(str(path))

    assert sys.path == before


def test_a_file_with_only_make_bot_loads_what_make_bot_returns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "factory.py",
        """\
        from runtime import Bot

        def make_bot():
            bot = Bot("made")
            bot.new_state("initial", initial=True)
            return bot
        """,
    )

    assert load_bot(str(path)).name == "made"


def test_a_module_level_bot_wins_over_make_bot(tmp_path: Path) -> None:
    path = bot_file(tmp_path, "def make_bot():\n    raise AssertionError('not called')\n")

    assert load_bot(str(path)).name == "tmp"


def test_make_bot_is_used_when_bot_is_not_a_bot(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "both.py",
        """\
        from runtime import Bot

        bot = "not a bot"

        def make_bot():
            return Bot("made")
        """,
    )

    assert load_bot(str(path)).name == "made"


def test_a_failed_load_is_not_cached(tmp_path: Path) -> None:
    path = write(tmp_path, "later.py", "raise ValueError('not yet')\n")
    with pytest.raises(BotLoadError):
        load_bot(str(path))

    bot_file(tmp_path, name="later.py")

    assert load_bot(str(path)).name == "tmp"


# -- modules ----------------------------------------------------------------------------------


def test_a_dotted_module_name_loads_its_bot() -> None:
    assert load_bot("runtime.examples.greetings") is runtime.examples.greetings.bot


def test_a_fresh_dotted_module_is_a_new_copy_and_sys_modules_keeps_the_old_one() -> None:
    original = sys.modules["runtime.examples.greetings"]

    bot = load_bot("runtime.examples.greetings", fresh=True)

    assert bot is not runtime.examples.greetings.bot
    assert bot.name == "greetings"
    assert sys.modules["runtime.examples.greetings"] is original


def test_fresh_loads_of_a_dotted_module_start_from_fresh_module_globals(importable: Path) -> None:
    write(importable, "loader_test_counter.py", COUNTER_BOT)

    names = [load_bot("loader_test_counter", fresh=True).name for _ in range(3)]

    assert names == ["counter-1", "counter-1", "counter-1"]
    assert "loader_test_counter" not in sys.modules


def test_a_dotted_module_is_imported_normally_without_fresh(importable: Path) -> None:
    write(importable, "loader_test_counter.py", COUNTER_BOT)

    names = [load_bot("loader_test_counter").name for _ in range(2)]

    assert names == ["counter-1", "counter-2"]
    assert "loader_test_counter" in sys.modules


def test_a_module_inside_a_package_loads_fresh_with_its_relative_imports(
    importable: Path,
) -> None:
    package = importable / "loader_test_pkg"
    package.mkdir()
    write(package, "__init__.py", "")
    write(package, "names.py", "NAME = 'from-package'\n")
    write(
        package,
        "mybot.py",
        """\
        from runtime import Bot
        from .names import NAME

        bot = Bot(NAME)
        """,
    )

    assert load_bot("loader_test_pkg.mybot").name == "from-package"
    assert load_bot("loader_test_pkg.mybot", fresh=True).name == "from-package"


# -- errors -----------------------------------------------------------------------------------


def load_error(spec: str, *, fresh: bool = False) -> BotLoadError:
    with pytest.raises(BotLoadError) as info:
        load_bot(spec, fresh=fresh)
    return info.value


def test_a_missing_file_says_it_was_not_found(tmp_path: Path) -> None:
    error = load_error(str(tmp_path / "nope.py"))

    assert "not found" in str(error)
    assert "nope.py" in str(error)
    assert "check the path" in str(error)


def test_a_file_that_is_not_python_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.txt", "bot = 1\n")

    assert "is not a Python file" in str(load_error(str(path)))


def test_a_directory_path_is_refused(tmp_path: Path) -> None:
    assert "is a directory" in str(load_error(f"{tmp_path}/"))


def test_an_exception_while_importing_a_file_is_named_with_its_message(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "x = 1 / 0\n")

    error = load_error(str(path))

    assert "raised ZeroDivisionError: division by zero" in str(error)
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_a_syntax_error_in_a_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.py", "def oops(:\n")

    assert "raised SyntaxError" in str(load_error(str(path)))


def test_a_bot_file_calling_sys_exit_does_not_exit_the_caller(tmp_path: Path) -> None:
    path = write(tmp_path, "script.py", "import sys\nsys.exit(3)\n")

    assert "raised SystemExit: 3" in str(load_error(str(path)))


def test_a_file_without_bot_or_make_bot_says_what_to_add(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.py", "x = 1\n")

    error = str(load_error(str(path)))

    assert "defines neither `bot` nor `make_bot()`" in error
    assert "bot = Bot(...)" in error


def test_a_bot_that_is_not_a_bot_is_named_with_its_type(tmp_path: Path) -> None:
    path = write(tmp_path, "wrong.py", "bot = 42\n")

    assert "`bot` is a int, not a runtime.Bot" in str(load_error(str(path)))


def test_make_bot_raising_is_reported_with_the_exception(tmp_path: Path) -> None:
    path = write(tmp_path, "raises.py", "def make_bot():\n    raise RuntimeError('no config')\n")

    error = load_error(str(path))

    assert "make_bot() raised RuntimeError: no config" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


def test_make_bot_returning_something_else_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "returns.py", "def make_bot():\n    return 'a bot'\n")

    assert "make_bot() returned a str, not a runtime.Bot" in str(load_error(str(path)))


def test_make_bot_that_is_not_callable_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "notcallable.py", "make_bot = 'factory'\n")

    assert "make_bot is a str, not a function" in str(load_error(str(path)))


def test_failed_file_loads_leave_sys_path_and_sys_modules_as_they_were(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "raise ValueError('boom')\n")
    path_before, modules_before = list(sys.path), set(sys.modules)

    load_error(str(path))
    load_error(str(path), fresh=True)

    assert sys.path == path_before
    assert set(sys.modules) == modules_before


def test_an_unknown_module_says_it_was_not_found() -> None:
    error = str(load_error("loader_test_no_such_module"))

    assert "bot module 'loader_test_no_such_module' not found" in error
    assert "give the path of its .py file" in error


def test_a_module_in_an_unknown_package_says_which_name_is_missing() -> None:
    error = str(load_error("loader_test_no_such_package.bot"))

    assert "not found (no module named 'loader_test_no_such_package')" in error


def test_an_exception_while_importing_a_module_is_named(importable: Path) -> None:
    write(importable, "loader_test_broken.py", "import loader_test_missing_dependency\n")

    for fresh in (False, True):
        error = str(load_error("loader_test_broken", fresh=fresh))
        assert "importing bot module 'loader_test_broken' raised ModuleNotFoundError" in error
        assert "loader_test_missing_dependency" in error


def test_a_spec_that_is_neither_a_file_nor_a_module_name_is_refused() -> None:
    error = str(load_error("not a module!"))

    assert "neither an existing file nor a module name" in error
    assert "path/to/bot.py" in error


def test_an_empty_spec_is_refused() -> None:
    assert "no bot given" in str(load_error(""))
