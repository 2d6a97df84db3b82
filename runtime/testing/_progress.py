"""Progress bars for the isolation runs (tqdm on a terminal, nothing elsewhere)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TextIO

from runtime.testing._load import ProgressCallback

__all__ = ["progress_bars"]

_LABELS = {
    "solo": "each user alone",
    "simulate": "simulation",
    "load": "load",
    "shrink": "shrinking",
}


@contextlib.contextmanager
def progress_bars(stream: TextIO) -> Iterator[ProgressCallback | None]:
    """Yield a progress callback drawing one bar per phase on ``stream``.

    Yields None (no bars) when ``stream`` is not a terminal, or when tqdm is not installed:
    bars are for people watching, and a log or a pipe only wants the report.
    """
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415 (no stubs)
    except ImportError:
        yield None
        return
    if not stream.isatty():
        yield None
        return
    bars: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = tqdm(
                total=total, desc=_LABELS.get(phase, phase), unit="event", file=stream, leave=False
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()
