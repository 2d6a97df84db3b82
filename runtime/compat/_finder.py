"""The import hook that makes ``besser.bot...`` resolve to this runtime (nothing is installed).

Only ``besser.bot`` and below are claimed: the ``besser`` namespace also holds BESSER's other
packages (``besser.BUML``, ``besser.agent``), which keep loading from the environment.

Once :func:`install` has run, ``import besser.bot.core.bot`` anywhere in the process returns a
module built from :data:`runtime.compat._modules.MODULES`. It sits first on ``sys.meta_path``,
so it wins over a real BBF installation too: a bot file loaded through the compatibility layer
runs on this runtime, not half on each.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

from runtime.compat._modules import MODULES, packages

__all__ = ["install", "installed"]

_PACKAGES = packages()
_lock = threading.Lock()


class _BbfFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Find and build the ``besser`` modules this runtime offers; refuse the others."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "besser":
            # The besser namespace is shared (BESSER's low-code platform: besser.BUML...):
            # a real one wins; only without one is ``besser`` ours, an empty package.
            if _elsewhere(fullname, path, target) is not None:
                return None
        elif not _is_bbf(fullname):
            return None
        elif fullname not in MODULES and fullname not in _PACKAGES:
            raise ModuleNotFoundError(
                f"not available in this runtime: {fullname} (a part of BBF 1.5 the "
                "compatibility layer does not offer; see the README's BBF section)",
                name=fullname,
            )
        is_package = fullname in _PACKAGES
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)
        if is_package:
            spec.submodule_search_locations = []
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        load = MODULES.get(module.__name__)
        module.__dict__["__runtime_compat__"] = True
        if load is not None:
            module.__dict__.update(load())


def _is_bbf(name: str) -> bool:
    return name == "besser.bot" or name.startswith("besser.bot.")


def _elsewhere(
    fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> importlib.machinery.ModuleSpec | None:
    """The spec the other finders give ``fullname`` (None: nobody else has it)."""
    for finder in sys.meta_path:
        if finder is _finder:
            continue
        find = getattr(finder, "find_spec", None)
        spec = None if find is None else find(fullname, path, target)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


_finder = _BbfFinder()


def install() -> None:
    """Make ``besser.bot`` imports resolve to this runtime, in this process (idempotent).

    Modules of a real ``besser`` package imported before are dropped from ``sys.modules``, so
    a later import gets ours.
    """
    with _lock:
        if _finder in sys.meta_path:
            return
        for name in list(sys.modules):
            if _is_bbf(name) and not getattr(sys.modules[name], "__runtime_compat__", False):
                del sys.modules[name]  # a real BBF's modules: ours from now on
        sys.meta_path.insert(0, _finder)


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return _finder in sys.meta_path
