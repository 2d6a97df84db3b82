"""Fixtures shared by the actor tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.actors import Dispatcher

TIMEOUT = 5.0


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., Dispatcher]]:
    """Start dispatchers for one test and stop every one of them after it."""
    started: list[Dispatcher] = []

    def make(**kwargs: Any) -> Dispatcher:
        dispatcher = Dispatcher(**kwargs)
        dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in started:
        before = dispatcher.statistics()
        assert dispatcher.stop(timeout=TIMEOUT), (
            f"the dispatcher's workers did not stop in time: before stop {before}, "
            f"after {dispatcher.statistics()}, threads {[t.name for t in threading.enumerate()]}"
        )
