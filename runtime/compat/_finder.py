"""The import hook that makes ``besser.bot...`` resolve to this runtime (nothing is installed).

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
        if fullname != "besser" and not fullname.startswith("besser."):
            return None
        if fullname not in MODULES and fullname not in _PACKAGES:
            supported = ", ".join(sorted(MODULES))
            raise ModuleNotFoundError(
                f"not available in this runtime: {fullname} (a part of BBF 1.5 the "
                f"compatibility layer does not offer; it offers {supported})",
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
            module = sys.modules[name]
            if (name == "besser" or name.startswith("besser.")) and not getattr(
                module, "__runtime_compat__", False
            ):
                del sys.modules[name]
        sys.meta_path.insert(0, _finder)


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return _finder in sys.meta_path
