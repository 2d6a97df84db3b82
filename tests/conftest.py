"""Shared fixtures: Hypothesis profiles, and a guard that stops every runtime after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pykka
import pytest
from hypothesis import HealthCheck, settings

from runtime.runtime import live_runtimes

# Threads make timing noisy: no deadlines. "ci" is bounded for CI's time; "deep" is for
# nightly runs: HYPOTHESIS_PROFILE=deep pytest tests/
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _stop_everything() -> Iterator[None]:
    """Stop every Runtime and pykka actor a test left running, even when it failed."""
    yield
    for rt in live_runtimes():
        rt.stop(timeout=5)
    pykka.ActorRegistry.stop_all(timeout=5)
