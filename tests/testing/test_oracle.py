"""The isolation oracle catches every racy bot and passes the clean examples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.testing import Step, check_isolation
from runtime.testing._structural import structural

RACY = Path(__file__).parent / "racy_bots"
BETWEEN_TURNS = [
    "global_note",
    "wrong_key",
    "last_user",
    "shared_counter",
    "lazy_cache",
    "stashed_session",
]
"""Racy bots whose race shows between turns: both modes must catch them."""
EXAMPLES = ["runtime/examples/greetings.py", "runtime/examples/notebook.py"]
LOAD_SEEDS = 10
"""The load mode must catch a racy bot within this many seeds."""


def racy(name: str) -> str:
    return str(RACY / f"{name}.py")


@pytest.mark.parametrize("name", BETWEEN_TURNS)
def test_the_simulation_catches_each_racy_bot_with_a_fixed_seed(name: str) -> None:
    report = check_isolation(racy(name), seed=0, mode="simulate")

    assert not report.isolated
    again = check_isolation(racy(name), seed=0, mode="simulate")
    assert again.divergences == report.divergences  # replays exactly


@pytest.mark.parametrize("name", [*BETWEEN_TURNS, "inside_turn"])
def test_the_load_mode_catches_each_racy_bot_within_a_few_seeds(name: str) -> None:
    caught = [
        seed
        for seed in range(LOAD_SEEDS)
        if not check_isolation(racy(name), seed=seed, mode="load").isolated
    ]

    assert caught, f"{name} was not caught in {LOAD_SEEDS} seeds"


def test_a_race_inside_one_turn_is_invisible_to_whole_turn_interleavings() -> None:
    for seed in range(5):
        report = check_isolation(racy("inside_turn"), seed=seed, mode="simulate", schedule=0)
        assert report.isolated


def test_the_simulation_catches_a_race_inside_a_turn_on_every_seed_and_replays_it() -> None:
    for seed in range(5):
        report = check_isolation(racy("inside_turn"), seed=seed, users=8, messages=10)
        simulated = report.results[0]
        assert simulated.mode == "simulate"
        assert simulated.divergences, f"seed {seed}"
        first = simulated.divergences[0]
        index = int(first.replay.rsplit("--schedule ", 1)[1])
        assert index >= 1  # an interleaving inside turns
        assert "switch(es): " in first.detail
        assert "inside_turn.py:" in first.detail
        again = check_isolation(
            racy("inside_turn"), seed=seed, users=8, messages=10, mode="simulate", schedule=index
        )
        assert again.divergences == simulated.divergences  # the very same, replies included


def test_a_stashed_session_shows_as_a_missing_reply_and_a_body_error() -> None:
    order = iter(["bob", "alice", "bob"])  # alice's question lands between bob's two turns
    report = check_isolation(
        racy("stashed_session"),
        scripts={"alice": ["i have a question"], "bob": ["i have a question", "answer 42"]},
        mode="simulate",
        choose=lambda ready: next(order),
    )
    text = report.format()

    assert not report.isolated
    [divergence] = report.divergences
    assert divergence.user == "bob"
    assert divergence.step == 1
    assert divergence.expected == ("Thanks for the answer: answer 42",)
    assert divergence.actual == ()
    assert "bodies raised 1 time(s) together, 0 alone" in divergence.detail
    assert "(nothing)" in text


def test_a_divergence_names_the_user_the_step_the_replies_and_a_replay_command() -> None:
    report = check_isolation(racy("last_user"), seed=3, users=3, messages=5, mode="simulate")
    divergence = report.divergences[0]

    assert divergence.user.startswith("user-")
    assert divergence.step is not None
    assert divergence.sent == report.scripts[divergence.user][divergence.step].describe()
    assert divergence.expected != divergence.actual
    assert divergence.replay == (
        f"python -m runtime check-isolation {racy('last_user')} --seed 3 --users 3 "
        "--messages 5 --mode simulate --schedule 0"
    )
    assert "turns in order:" in divergence.detail


def test_data_that_differs_at_the_end_is_a_divergence_even_when_replies_match() -> None:
    report = check_isolation(
        racy("wrong_key"),
        scripts={"a": ["add an apple"], "b": ["add an apple"]},
        mode="simulate",
        normalise=lambda user, step, replies: [],  # hide the replies: only data is left
    )

    assert report.isolated  # wrong_key keeps its baskets in a global, not in the session
    report = check_isolation(
        racy("shared_counter"),
        scripts={"a": ["give me a ticket"], "b": ["give me a ticket"]},
        mode="simulate",
        normalise=lambda user, step, replies: [],
    )
    assert report.isolated  # the tickets count is per session: the same alone and together


def test_ignore_keys_and_a_normaliser_let_a_bot_share_a_counter_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "visitors.py"
    path.write_text(
        "from runtime import Bot\n"
        "VISITORS = 0\n"
        "bot = Bot('visitors')\n"
        "s = bot.new_state('s', initial=True)\n"
        "def count(session):\n"
        "    global VISITORS\n"
        "    VISITORS += 1\n"
        "    session.set('visitors', VISITORS)\n"
        "    session.reply(f'You said {session.message}. Visitors so far: {VISITORS}')\n"
        "s.set_fallback_body(count)\n"
    )
    scripts = {"a": ["x", "y"], "b": ["z"]}

    assert not check_isolation(str(path), scripts=scripts, mode="simulate").isolated

    def strip_count(user: str, step: int, replies: list[str]) -> list[str]:
        return [reply.split(". Visitors")[0] for reply in replies]

    report = check_isolation(
        str(path),
        scripts=scripts,
        mode="both",
        ignore_keys={"visitors"},
        normalise=strip_count,
    )
    assert report.isolated, report.format()


def test_scripts_given_in_python_are_printed_for_the_replay_command() -> None:
    report = check_isolation(
        racy("last_user"), scripts={"a": ["hello"], "b": [Step.message("bye")]}, mode="simulate"
    )
    text = report.format()

    assert "--scripts SCRIPTS.json" in text
    assert '"b": [\n    "bye"\n  ]' in text


def test_the_summary_table_counts_users_events_and_divergences() -> None:
    report = check_isolation(racy("last_user"), seed=1, users=3, messages=4)
    lines = report.summary_table().splitlines()

    assert lines[0].split() == [
        "mode",
        "users",
        "events",
        "events/s",
        "schedules",
        "schedules/s",
        "divergences",
    ]
    assert [line.split()[:3] for line in lines[2:]] == [
        ["simulate", "3", "12"],
        ["load", "3", "12"],
    ]
    assert [int(line.split()[-1]) for line in lines[2:]] == [
        len(result.divergences) for result in report.results
    ]


@pytest.mark.parametrize("bot", EXAMPLES)
def test_the_clean_examples_pass_over_many_seeds_in_both_modes(bot: str) -> None:
    for seed in range(20):
        report = check_isolation(bot, seed=seed, users=5, messages=8)
        assert report.isolated, report.format()


def test_bad_arguments_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        check_isolation(EXAMPLES[0], mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        check_isolation(EXAMPLES[0], concurrency=0)
    with pytest.raises(TypeError, match="file path, a module name or a module"):
        check_isolation(42)  # type: ignore[arg-type]


def test_values_equal_by_structure_are_not_divergences_across_module_copies() -> None:
    # Each run loads a fresh copy of the bot module: its dataclass, Enum, named tuple and plain
    # class are other class objects in every run, so == alone reported this clean bot as NOT
    # ISOLATED on every seed, both sides printing the same values.
    bot = str(Path(__file__).parent / "clean_bots" / "typed_values.py")
    for seed in range(5):
        report = check_isolation(bot, seed=seed, users=4, messages=6)
        assert report.isolated, report.format()


def test_structural_comparison_still_tells_different_values_apart() -> None:
    first, second = load_bot_module_twice()
    assert structural(first.Visit(1, "a")) == structural(second.Visit(1, "a"))
    assert first.Visit(1, "a") != second.Visit(1, "a")  # why structure is needed
    assert structural(first.Visit(1, "a")) != structural(second.Visit(2, "a"))
    assert structural(first.Mood.GOOD) == structural(second.Mood.GOOD)
    assert structural(first.Mood.GOOD) != structural(second.Mood.BAD)
    assert structural(first.Point(1, 2)) != structural((1, 2))
    assert structural({"s": {1, 2}}) == structural({"s": {2, 1}})
    assert structural(first.Tally(3)) == structural(second.Tally(3))
    assert structural(first.Tally(3)) != structural(second.Tally(4))
    assert structural([1, 2]) != structural((1, 2))
    assert structural(float("nan")) == structural(float("nan"))
    assert structural({first.Tally(1), first.Tally(1)}) != structural({second.Tally(1)})
    assert structural(lambda: 1) != structural(structural)


def test_structural_comparison_handles_cycles_and_shared_values() -> None:
    first, second = load_bot_module_twice()
    loop_a, loop_b = {}, {}
    loop_a["l"] = loop_a["r"] = loop_a  # a cycle, met twice on every level
    loop_b["l"] = loop_b["r"] = loop_b
    assert structural(loop_a) == structural(loop_b)
    tree_a, tree_b = first.Tally(0), second.Tally(0)
    tree_a.children = [first.Tally(1)]
    tree_b.children = [second.Tally(1)]
    tree_a.children[0].parent = tree_a  # parent pointers: cycles through objects
    tree_b.children[0].parent = tree_b
    assert structural(tree_a) == structural(tree_b)
    tree_b.children[0].seen = 2
    assert structural(tree_a) != structural(tree_b)
    shared: dict[str, object] = {"x": 1}
    for level in range(60):  # shared twice per level: 2**60 paths, one conversion each
        shared = {"a": shared, "b": shared}
        if level == 15:
            assert structural(shared) == structural(shared)  # 2**16 comparisons: fine
    assert structural(shared)[0] == "mapping"  # converted without walking 2**60 paths


def load_bot_module_twice() -> tuple[Any, Any]:
    """Two copies of the typed_values bot module, as two isolation runs load them."""
    path = Path(__file__).parent / "clean_bots" / "typed_values.py"
    modules = []
    for n in range(2):
        name = f"typed_values_copy_{n}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        try:
            spec.loader.exec_module(module)
        finally:
            del sys.modules[name]
        modules.append(module)
    return modules[0], modules[1]


def test_values_without_structural_equality_are_noted_not_reported() -> None:
    bot = str(Path(__file__).parent / "clean_bots" / "opaque_values.py")
    for seed in range(3):
        report = check_isolation(bot, seed=seed, users=4, messages=5, mode="simulate")
        assert report.isolated, report.format()
        assert report.hints == (
            "session data 'marker' (user user-0 and maybe others) holds an object value (it "
            "compares by identity, has no fields): not comparable, so not compared; store plain "
            "data (or give its class fields) to have it checked",
        )
        assert "note: session data 'marker'" in report.format()


def test_a_changed_slot_or_custom_eq_value_still_diverges() -> None:
    from runtime.testing._structural import structural  # noqa: PLC0415

    copies = [_module_copy("opaque_values", n) for n in (1, 2)]  # as two runs load it
    one, two = (copy.Money(5) for copy in copies)
    assert one != two  # each copy's __eq__ sees the other's class as foreign
    assert structural(one) == structural(two)
    assert structural(copies[0].Money(5)) != structural(copies[1].Money(6))
    assert structural(copies[0].Slot("a")) == structural(copies[1].Slot("a"))
    assert structural(copies[0].Slot("a")) != structural(copies[1].Slot("b"))


def _module_copy(stem: str, n: int) -> Any:
    """A copy of a clean bot module named as the loader names bot copies (``_runtime_bot_``)."""
    path = Path(__file__).parent / "clean_bots" / f"{stem}.py"
    name = f"_runtime_bot_{stem}_copy_{n}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
