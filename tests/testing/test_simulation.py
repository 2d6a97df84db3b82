"""The deterministic simulation: exact replays, the same replies as a real Runtime."""

from __future__ import annotations

from pathlib import Path

from runtime import Bot, Runtime, Session
from runtime._loader import load_bot
from runtime.testing import Simulation, Step, generate_scripts, seeded_chooser
from runtime.testing._transcript import describe_failure

NOTEBOOK = "runtime/examples/notebook.py"
RACY = Path(__file__).parent / "racy_bots"


def test_a_seed_replays_the_same_interleaving_and_the_same_transcripts() -> None:
    spec = str(RACY / "shared_counter.py")
    scripts = generate_scripts(load_bot(spec, fresh=True), users=4, messages=6, seed=5)
    first = Simulation(load_bot(spec, fresh=True))
    second = Simulation(load_bot(spec, fresh=True))

    assert first.run(scripts, seeded_chooser(9)) == second.run(scripts, seeded_chooser(9))
    assert first.schedule == second.schedule
    other = Simulation(load_bot(spec, fresh=True))
    other.run(scripts, seeded_chooser(10))
    assert other.schedule != first.schedule


def test_a_lone_user_gets_the_same_replies_and_data_as_from_a_runtime() -> None:
    scripts = generate_scripts(load_bot(NOTEBOOK, fresh=True), users=3, messages=12, seed=2)
    simulated = Simulation(load_bot(NOTEBOOK, fresh=True)).run(scripts)
    with Runtime(load_bot(NOTEBOOK, fresh=True)) as rt:
        for user, script in scripts.items():
            replies = []
            for step in script:
                if step.kind == "message":
                    future = rt.send_message(user, step.text)
                elif step.kind == "file":
                    assert step.file is not None
                    future = rt.send_file(user, step.file)
                else:
                    future = rt.send_event(user, step.text, step.payload)
                replies.append(tuple(future.typed_result(timeout=10)))  # rich ones too
            snapshot = rt.snapshot(user)
            assert snapshot is not None
            assert [s.replies for s in simulated[user].steps] == replies
            assert simulated[user].data == dict(snapshot.data)


def crashing_bot() -> Bot:
    bot = Bot("crashing")
    state = bot.new_state("s", initial=True)

    def fallback(session: Session) -> None:
        session.set("seen", (session.get("seen") or 0) + 1)
        if session.message == "exit":
            raise SystemExit(3)
        session.reply(f"seen {session.get('seen')}")

    state.set_fallback_body(fallback)
    return bot


def test_a_turn_that_kills_the_session_fails_and_is_undone_as_in_a_runtime() -> None:
    simulation = Simulation(crashing_bot())
    results = [simulation.send("u", Step.message(text)) for text in ("a", "exit", "b")]
    with Runtime(crashing_bot()) as rt:
        rt.send_message("u", "a").result(timeout=5)
        crashed = rt.send_message("u", "exit").exception(timeout=5)
        assert crashed is not None

    assert [r.replies for r in results] == [("seen 1",), (), ("seen 2",)]
    assert results[1].error == describe_failure(crashed) == "session crashed: SystemExit"
    assert simulation.data("u") == {"seen": 2}


def test_the_simulation_cannot_see_a_race_inside_one_turn() -> None:
    spec = str(RACY / "inside_turn.py")
    scripts = generate_scripts(load_bot(spec, fresh=True), users=4, messages=6, seed=0)
    together = Simulation(load_bot(spec, fresh=True)).run(scripts, seeded_chooser(0))
    for user, script in scripts.items():
        alone = Simulation(load_bot(spec, fresh=True)).run({user: script})
        assert together[user] == alone[user]
