"""The line scheduler: one thread at a time, switching only at the traced code's lines."""

from __future__ import annotations

import importlib.util
import random
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from runtime.testing._scheduler import PCT, LineScheduler, RandomWalk

CODE = textwrap.dedent(
    """
    import threading
    import time

    SHARED = {"value": None, "count": 0}
    LOCK = threading.Lock()


    def racy(name, out):
        SHARED["value"] = name
        out.append((name, SHARED["value"]))


    def counting(times):
        for _ in range(times):
            SHARED["count"] = (SHARED["count"], time.sleep(0.0005))[0] + 1  # one line, slow


    def locked(name, out):
        with LOCK:
            first = len(out)
            out.append(name)
            out.append(first)
    """
)


@pytest.fixture
def code(tmp_path: Path) -> ModuleType:
    path = tmp_path / "scheduled_code.py"
    path.write_text(CODE)
    spec = importlib.util.spec_from_file_location("scheduled_code", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scheduled_code"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["scheduled_code"]
    return module


NAMES = ["a", "b", "c", "d"]


def run_racy(code: ModuleType, strategy: object) -> tuple[list[tuple[str, str]], list[str]]:
    out: list[tuple[str, str]] = []
    scheduler = LineScheduler({code.__file__}, strategy)  # type: ignore[arg-type]
    run = scheduler.run({name: (lambda n=name: code.racy(n, out)) for name in NAMES})
    assert not run.errors
    return out, [str(switch) for switch in run.switches]


def test_one_thread_runs_at_a_time_and_switches_happen_at_the_code_s_lines(
    code: ModuleType,
) -> None:
    # The counting line sleeps between its read and its write: real threads lose updates
    # there; under the scheduler a line runs whole, since switches happen between lines only.
    scheduler = LineScheduler({code.__file__}, RandomWalk(random.Random(1), 0.5))
    run = scheduler.run({name: (lambda: code.counting(25)) for name in NAMES})
    assert not run.errors
    assert code.SHARED["count"] == 25 * len(NAMES)
    assert run.switches
    assert all(" at scheduled_code.py:" in str(switch) for switch in run.switches)


def test_the_same_seed_takes_the_same_schedule_with_the_same_result(code: ModuleType) -> None:
    runs = {repr(run_racy(code, RandomWalk(random.Random(seed), 0.5))) for seed in [7] * 5}
    assert len(runs) == 1
    different = {repr(run_racy(code, RandomWalk(random.Random(seed), 0.5))) for seed in range(8)}
    assert len(different) > 1  # the seed does decide


def test_pct_without_change_points_runs_tasks_whole_by_priority(code: ModuleType) -> None:
    out, switches = run_racy(code, PCT(random.Random(3), NAMES, depth=1, steps=20))
    assert switches == []  # a task only hands over when it ends
    assert all(name == value for name, value in out)  # so no race can show
    assert sorted(name for name, _ in out) == NAMES


def test_pct_finds_the_race_a_whole_turn_order_cannot(code: ModuleType) -> None:
    caught = 0
    for seed in range(60):
        out, _ = run_racy(code, PCT(random.Random(seed), NAMES, depth=2, steps=20))
        caught += any(name != value for name, value in out)
    assert caught > 0


def test_a_lock_held_across_a_switch_moves_the_baton_on_and_every_task_ends(
    code: ModuleType,
) -> None:
    out: list[object] = []
    scheduler = LineScheduler(
        {code.__file__}, RandomWalk(random.Random(0), 1.0), block_timeout=0.05
    )
    run = scheduler.run({name: (lambda n=name: code.locked(n, out)) for name in NAMES})
    assert not run.errors
    assert sorted(out[0::2]) == NAMES  # type: ignore[type-var]
    assert out[1::2] == [0, 2, 4, 6]  # the lock kept each pair together
    assert run.blocked  # and the report says the baton had to move on
