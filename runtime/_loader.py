"""Load a bot from the BOT argument of the command line: a file path or a module name.

The module must expose a module-level ``bot`` (a :class:`runtime.Bot`) or a ``make_bot()``
function returning one. Every failure raises :class:`BotLoadError` with a message that says
what was wrong and what to do, so the CLI can print it without a traceback.

A file (or module) that imports ``besser.bot`` is a BBF 1.5 bot file: the compatibility layer
(:mod:`runtime.compat`) is turned on before it runs, so it loads unchanged.

``fresh=True`` executes a brand-new copy of the module, with fresh globals, on every call: the
isolation checker serves independent copies of one bot side by side. Only the bot module itself
is fresh; the modules it imports (a sibling helper, ``runtime``) are shared as imports always are.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import itertools
import os
import re
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

from runtime.bot import Bot
from runtime.errors import BotLoadError

__all__ = ["load_bot"]

_HINT = "give BOT as path/to/bot.py or as a dotted module name such as package.module"

# sys.path and sys.modules are process-wide: loads take turns so one load's temporary entries
# never leak into another's. Reentrant because a bot module may itself call load_bot().
_lock = threading.RLock()
_file_cache: dict[str, ModuleType] = {}
_file_counter = itertools.count(1)


def load_bot(spec: str, *, fresh: bool = False) -> Bot:
    """Load the bot that a file or module defines.

    The module must define a module-level ``bot`` that is a :class:`runtime.Bot`, or else a
    ``make_bot()`` function returning one. While a file loads, its directory is at the front of
    ``sys.path``, so it can import a helper module that sits beside it.

    Args:
        spec: a path to a ``.py`` file (any existing file is taken as a path) or a dotted module
            name such as ``runtime.examples.greetings``.
        fresh: execute a brand-new copy of the module, with fresh globals, instead of reusing
            the one loaded before (a file is otherwise loaded once per path, and a module is
            imported normally).

    Returns:
        The module's ``bot``, or what its ``make_bot()`` returned.

    Raises:
        BotLoadError: the file or module does not exist, is not Python, raised while it was
            imported, or defines no usable ``bot`` or ``make_bot()``; the message says which.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise BotLoadError(f"no bot given ({spec!r}): {_HINT}")
    with _lock:
        if os.path.isfile(spec) or _looks_like_path(spec):
            return _load_file(spec, fresh=fresh)
        return _load_module(spec, fresh=fresh)


def _looks_like_path(spec: str) -> bool:
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    return spec.endswith(".py") or any(sep in spec for sep in separators)


# -- files ------------------------------------------------------------------------------------


def _load_file(spec: str, *, fresh: bool) -> Bot:
    path = os.path.realpath(spec)
    if not os.path.exists(path):
        raise BotLoadError(
            f"bot file {spec!r} not found (looked for {path}); check the path, or {_HINT}"
        )
    if os.path.isdir(path):
        raise BotLoadError(f"{spec!r} is a directory, not a bot file; {_HINT}")
    if not path.endswith(".py"):
        raise BotLoadError(
            f"bot file {spec!r} is not a Python file: BOT must be a .py file defining `bot` "
            "or `make_bot()`, or a dotted module name"
        )
    where = f"bot file {spec!r}"
    directory = os.path.dirname(path)
    cached = None if fresh else _file_cache.get(path)
    if cached is not None:
        with _on_sys_path(directory):
            return _bot_from(cached, where)
    name = _module_name_for(path)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:  # pragma: no cover - .py always loads
        raise BotLoadError(f"{where} cannot be loaded as a Python module; {_HINT}")
    module = importlib.util.module_from_spec(module_spec)
    with _on_sys_path(directory):
        # Registered while it runs, as an import would be: dataclasses and typing look the
        # module up by name. A fresh copy goes away afterwards; a cached one stays.
        sys.modules[name] = module
        try:
            _execute(module, module_spec, where)
            bot = _bot_from(module, where)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    if fresh:
        sys.modules.pop(name, None)
    else:
        _file_cache[path] = module
    return bot


def _module_name_for(path: str) -> str:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return f"_runtime_bot_{stem}_{next(_file_counter)}"


@contextlib.contextmanager
def _on_sys_path(directory: str) -> Iterator[None]:
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        # Remove our entry only: the module may have changed sys.path meanwhile.
        if sys.path and sys.path[0] == directory:
            del sys.path[0]
        else:
            with contextlib.suppress(ValueError):
                sys.path.remove(directory)


# -- modules ----------------------------------------------------------------------------------


def _load_module(spec: str, *, fresh: bool) -> Bot:
    if not all(part.isidentifier() for part in spec.split(".")):
        raise BotLoadError(f"{spec!r} is neither an existing file nor a module name; {_HINT}")
    where = f"bot module {spec!r}"
    try:
        module_spec = importlib.util.find_spec(spec)
    except ModuleNotFoundError as exc:
        raise BotLoadError(_not_found(spec, f"no module named {exc.name!r}")) from exc
    except (Exception, SystemExit) as exc:
        raise BotLoadError(
            f"importing the package of {where} raised {type(exc).__name__}: {exc}"
        ) from exc
    if module_spec is None:
        raise BotLoadError(_not_found(spec, "no such module"))
    if not fresh:
        _compat_for(module_spec)
        try:
            module = importlib.import_module(spec)
        except (Exception, SystemExit) as exc:
            raise BotLoadError(f"importing {where} raised {type(exc).__name__}: {exc}") from exc
        return _bot_from(module, where)
    if module_spec.loader is None:
        raise BotLoadError(f"{where} has no loader (a namespace package?); {_HINT}")
    module = importlib.util.module_from_spec(module_spec)
    # Like an import, the copy is sys.modules[spec] while it runs (dataclasses and submodules
    # look it up by name); then whatever was there before is put back.
    previous = sys.modules.get(spec)
    sys.modules[spec] = module
    try:
        _execute(module, module_spec, where)
        return _bot_from(module, where)
    finally:
        if previous is None:
            sys.modules.pop(spec, None)
        else:
            sys.modules[spec] = previous


def _not_found(spec: str, why: str) -> str:
    return (
        f"bot module {spec!r} not found ({why}); check the spelling and that its package is "
        "importable from here (run from the project directory), or give the path of its .py file"
    )


# -- both -------------------------------------------------------------------------------------


def _compat_for(module_spec: importlib.machinery.ModuleSpec) -> None:
    """Turn the BBF compatibility layer on if asked, or if the module imports ``besser``."""
    from runtime import compat  # noqa: PLC0415 - small; imported only when loading a bot

    if compat.wanted():
        compat.install()
        return
    origin = module_spec.origin
    if origin is None or not origin.endswith(".py") or not os.path.isfile(origin):
        return
    try:
        with open(origin, "rb") as file:
            source = file.read()
    except OSError:
        return  # the import itself will say what is wrong
    if compat.imports_bbf(source):
        compat.install()


def _execute(module: ModuleType, module_spec: importlib.machinery.ModuleSpec, where: str) -> None:
    assert module_spec.loader is not None
    _compat_for(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        # SystemExit too: a script-style bot file calling sys.exit() must not end the caller.
        raise BotLoadError(f"importing {where} raised {type(exc).__name__}: {exc}") from exc


def _bot_from(module: ModuleType, where: str) -> Bot:
    candidate = getattr(module, "bot", None)
    if isinstance(candidate, Bot):
        return candidate
    factory = getattr(module, "make_bot", None)
    if factory is not None:
        if not callable(factory):
            raise BotLoadError(
                f"{where}: make_bot is a {type(factory).__name__}, not a function; define "
                "`def make_bot() -> Bot`"
            )
        try:
            made = factory()
        except (Exception, SystemExit) as exc:
            raise BotLoadError(f"{where}: make_bot() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(made, Bot):
            raise BotLoadError(
                f"{where}: make_bot() returned a {type(made).__name__}, not a runtime.Bot; "
                "return the Bot it builds"
            )
        return made
    if candidate is not None:
        raise BotLoadError(
            f"{where}: `bot` is a {type(candidate).__name__}, not a runtime.Bot; set "
            "`bot = Bot(...)` or define `make_bot()` returning one"
        )
    raise BotLoadError(
        f"{where} defines neither `bot` nor `make_bot()`: add a module-level "
        "`bot = Bot(...)` or a function `make_bot()` that returns a Bot"
    )
