"""Fixtures for the web gateway: a real uvicorn server on loopback, real clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _web import LiveServer, live_server

from runtime import Runtime
from runtime.examples.greetings import bot as greetings


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(greetings) as rt:
        yield rt


@pytest.fixture
def server(runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(runtime) as srv:
        yield srv
