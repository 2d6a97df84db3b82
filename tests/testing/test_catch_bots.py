"""Check the catch-rate benchmark's bots: what they declare, no false alarm, known catches.

Each bot of ``benchmarks/catch_bots/`` declares ``EXPECTED`` and ``KIND``; clean ones must be
reported isolated, and the racy ones the simulation can see are caught on a known seed. The
benchmark itself (``benchmarks/catch_rate.py``) measures rates over many seeds; these checks
are quick and deterministic: the simulation replays exactly from its seed, and only bots whose
race lives in the bot module's own globals are asserted caught (a race through process-wide
state, such as ``os.environ`` or the global ``random``, depends on what ran before in this
process).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from runtime import Bot
from runtime.testing import check_isolation

CATCH_BOTS = Path(__file__).resolve().parents[2] / "benchmarks" / "catch_bots"
BOT_FILES = sorted(path for path in CATCH_BOTS.glob("*.py") if not path.name.startswith("_"))

SIMULATION_KINDS = frozenset(
    {"between turns", "three users", "deep path", "replies only", "stashed session"}
)
"""Racy kinds whose race is between whole turns, on the bot module's own globals."""

CAUGHT_ON = {
    "cached_settings": 0,
    "default_picks": 0,
    "drafts_reset": 0,
    "greeting_cache": 0,
    "order_tracking": 0,
    "pizza_order": 1,  # the deep path is not reached on every seed (seed 0 misses it)
    "quiz_questions": 0,
    "recent_prefs": 0,
    "reminder_stash": 0,
    "reply_buffer": 0,
}
"""A seed on which the simulation catches each of those bots (8 users x 10 messages)."""


def _declared(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in ("EXPECTED", "KIND")
    }


def _bots(expected: str) -> list[Path]:
    return [path for path in BOT_FILES if _declared(path).get("EXPECTED") == expected]


def test_the_folder_has_at_least_twelve_racy_and_six_clean_bots() -> None:
    assert len(_bots("racy")) >= 12
    assert len(_bots("clean")) >= 6
    assert len(_bots("racy")) + len(_bots("clean")) == len(BOT_FILES)


@pytest.mark.parametrize("path", BOT_FILES, ids=lambda path: path.stem)
def test_every_bot_imports_and_declares_what_it_is(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(CATCH_BOTS))  # its helpers sit beside it
    name = f"_catch_bot_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)

    assert isinstance(module.bot, Bot)
    assert module.EXPECTED in ("racy", "clean")
    assert isinstance(module.KIND, str)
    assert module.KIND
    assert module.__doc__
    if module.EXPECTED == "racy":
        assert "Race (" in module.__doc__, "a racy bot's docstring says what the race is"
    else:
        assert module.__doc__.startswith("Clean: ")


@pytest.mark.timeout(60)  # a deadlocked checker fails the test instead of hanging the suite
@pytest.mark.parametrize("path", _bots("clean"), ids=lambda path: path.stem)
def test_a_clean_bot_is_reported_isolated(path: Path) -> None:
    for seed in (0, 1):
        report = check_isolation(str(path), seed=seed, users=8, messages=10, mode="both")
        assert report.isolated, str(report)


def test_every_racy_bot_of_a_simulation_kind_has_a_known_seed() -> None:
    racy = {path.stem for path in _bots("racy") if _declared(path)["KIND"] in SIMULATION_KINDS}
    assert racy == set(CAUGHT_ON)


@pytest.mark.parametrize(("name", "seed"), sorted(CAUGHT_ON.items()))
def test_the_simulation_catches_a_racy_bot_on_its_known_seed(name: str, seed: int) -> None:
    report = check_isolation(
        str(CATCH_BOTS / f"{name}.py"), seed=seed, users=8, messages=10, mode="simulate"
    )

    assert not report.isolated
    assert all(result.mode == "simulate" for result in report.results)
    assert any(result.divergences for result in report.results)
