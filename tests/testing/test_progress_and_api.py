"""The progress bars of check-isolation, and runtime.testing's public names."""

from __future__ import annotations

import inspect
import io

import runtime.testing
from runtime.testing import check_isolation
from runtime.testing._progress import progress_bars


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_per_phase() -> None:
    stream = FakeTerminal()
    with progress_bars(stream) as progress:
        assert progress is not None
        check_isolation("runtime/examples/greetings.py", seed=0, progress=progress)

    drawn = stream.getvalue()
    for label in ("each user alone", "simulation", "load"):
        assert label in drawn


def test_a_pipe_gets_no_progress_bar() -> None:
    with progress_bars(io.StringIO()) as progress:
        assert progress is None


def test_all_is_sorted_and_complete() -> None:
    names = runtime.testing.__all__
    public = {
        name
        for name, value in vars(runtime.testing).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }

    assert names == sorted(names)
    assert public <= set(names)
    for name in names:
        assert getattr(runtime.testing, name) is not None  # the lazy ones load too
