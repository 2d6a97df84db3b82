"""RayBackend on a real local Ray: the Runtime's calls, order, failures and restarts."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.exceptions")  # the optional extra (tests/ray is no package of it)

import ray
from _gate import Gate

from runtime import (
    Event,
    OverloadedError,
    Runtime,
    RuntimeStoppedError,
    SessionCrashedError,
)
from runtime._loader import load_bot
from runtime.ray import RayBackend
from runtime.store import MemoryStore
from runtime.testing import (
    FlakyStore,
    Transcript,
    compare,
    generate_scripts,
    solo_transcripts,
)
from runtime.testing._simulation import step_event
from runtime.testing._transcript import StepResult

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

HERE = Path(__file__).parent
LEDGER = str(HERE / "_ray_bots.py")
GREETINGS = str(HERE.parents[1] / "runtime" / "examples" / "greetings.py")
WAIT = 60.0


def ledger() -> Runtime:
    return Runtime(load_bot(LEDGER, fresh=True), backend=RayBackend(shards=2, bot_path=LEDGER))


@pytest.fixture
def gate() -> Iterator[object]:
    actor = ray.remote(Gate).options(name="gate", enable_task_events=False).remote()
    yield actor
    ray.kill(actor)


def test_runtime_calls_work_the_same_on_ray_shards() -> None:
    bot = load_bot(GREETINGS, fresh=True)
    with Runtime(bot, backend=RayBackend(shards=2)) as rt:  # the bot object, cloudpickled
        assert rt.open_session("alice").result(WAIT) == []
        assert rt.send_message("alice", "hi").result(WAIT) == ["Hi! How are you?"]
        assert rt.send_message("bob", "hello").result(WAIT) == ["Hi! How are you?"]
        assert rt.send_message("alice", "great").result(WAIT) == ["I am glad to hear that!"]
        snapshot = rt.snapshot("alice", timeout=WAIT)
        assert snapshot is not None
        assert [text for text, _ in snapshot.chat_history] == [
            "hi",
            "Hi! How are you?",
            "great",
            "I am glad to hear that!",
        ]
        assert rt.snapshot("nobody", timeout=WAIT) is None
        assert sorted(rt.session_ids()) == ["alice", "bob"]
        assert rt.passivate("bob").result(WAIT) is True
        assert rt.send_message("bob", "great").result(WAIT) == ["I am glad to hear that!"]
        assert rt.forget("bob").result(WAIT) is True
        assert rt.send_message("bob", "great").result(WAIT) == ["Sorry, I didn't get it"]
        stats = rt.stats()
        assert stats.events_accepted == stats.events_processed == 6
        assert stats.events_pending == 0
        assert stats.passivations == 1
        assert stats.sessions_forgotten == 1
    assert rt.backend.running is False


def test_each_sessions_events_run_in_order_across_many_small_batches() -> None:
    backend = RayBackend(shards=2, bot_path=LEDGER, batch_size=7, max_in_flight=4)
    users, messages = 40, 30
    with Runtime(load_bot(LEDGER, fresh=True), backend=backend) as rt:
        futures = {
            user: [rt.send_message(f"u{user}", f"m{i}") for i in range(messages)]
            for user in range(users)
        }
        for user, sent in futures.items():
            assert [f.result(WAIT) for f in sent] == [[f"{i + 1}:m{i}"] for i in range(messages)]
            snapshot = rt.snapshot(f"u{user}", timeout=WAIT)
            assert snapshot is not None
            assert snapshot.data["seen"] == [f"m{i}" for i in range(messages)]


def test_subscribers_get_every_committed_turn_in_order_with_the_callers_event() -> None:
    got: list[tuple[Event, list[object]]] = []
    done = threading.Event()

    def on_turn(event: Event, replies: list[object]) -> None:
        got.append((event, replies))
        if len(got) == 20:
            done.set()

    with ledger() as rt:
        rt.subscribe("carol", on_turn)
        events = [Event.message("carol", f"m{i}") for i in range(20)]
        futures = [rt.submit(event) for event in events]
        concurrent.futures.wait(futures, WAIT)
        assert done.wait(WAIT)
        assert [event for event, _ in got] == events
        assert all(a is b for (a, _), b in zip(got, events, strict=True))
        assert [replies for _, replies in got] == [[f"{i + 1}:m{i}"] for i in range(20)]


def test_a_crashing_body_fails_its_future_and_the_session_goes_on() -> None:
    with ledger() as rt:
        assert rt.send_message("dave", "a").result(WAIT) == ["1:a"]
        crashed = rt.send_message("dave", "crash")
        with pytest.raises(SessionCrashedError) as caught:
            crashed.result(WAIT)
        assert type(caught.value.__cause__).__name__ == "SystemExit"
        assert rt.send_message("dave", "b").result(WAIT) == ["2:b"]


def test_the_isolation_oracle_finds_no_divergence_across_shards() -> None:
    scripts = generate_scripts(load_bot(GREETINGS, fresh=True), users=12, messages=8, seed=3)
    alone = solo_transcripts(GREETINGS, scripts)
    backend = RayBackend(shards=3, bot_path=GREETINGS, batch_size=16)
    together: dict[str, Transcript] = {}
    with Runtime(load_bot(GREETINGS, fresh=True), backend=backend) as rt:
        sent: dict[str, list[concurrent.futures.Future[list[str]]]] = {u: [] for u in scripts}
        for index in range(max(len(s) for s in scripts.values())):  # users interleaved
            for user, script in scripts.items():
                if index < len(script):
                    sent[user].append(rt.submit(step_event(user, script[index])))
        for user, futures in sent.items():
            transcript = Transcript(user)
            for future in futures:
                typed = future.typed_result(WAIT)  # type: ignore[attr-defined]
                transcript.steps.append(StepResult(tuple(typed)))
            snapshot = rt.snapshot(user, timeout=WAIT)
            transcript.data = {} if snapshot is None else dict(snapshot.data)
            together[user] = transcript
        assert {rt.backend.shard_of(u) for u in scripts} == {0, 1, 2}  # type: ignore[attr-defined]
    assert compare(alone, together, scripts, mode="load", replay="(ray test)") == []


def test_a_killed_shard_restarts_rehydrates_and_runs_no_event_twice(
    tmp_path: Path, gate: object
) -> None:
    # Ten events of one session in one batch (the size cap sends it; the window never does):
    # nine commit, the tenth blocks at the gate, so the batch's answer is still out when its
    # shard is killed. The gateway resends all ten with their message_ids: the nine are
    # answered from the session's memory, the tenth runs once, in the new incarnation.
    backend = RayBackend(
        shards=2, bot_path=LEDGER, batch_size=10, batch_window=600.0, straggle=600.0
    )
    store = f"sqlite:///{tmp_path / 'sessions.db'}"
    with Runtime(load_bot(LEDGER, fresh=True), store=store, backend=backend) as rt:
        texts = [f"m{i}" for i in range(9)] + ["block"]
        futures = [rt.send_message("erin", text) for text in texts]
        ray.get(gate.wait_arrived.remote(), timeout=WAIT)  # type: ignore[attr-defined]
        assert not any(f.done() for f in futures)
        shard = ray.get_actor(f"shard-{backend.shard_of('erin')}", namespace=backend.namespace)
        before = {info.index: info for info in backend.shard_info()}
        ray.kill(shard, no_restart=False)
        assert [f.result(WAIT) for f in futures] == [
            [f"{i + 1}:{text}"] for i, text in enumerate(texts)
        ]
        snapshot = rt.snapshot("erin", timeout=WAIT)
        assert snapshot is not None
        assert snapshot.data["seen"] == texts
        after = {info.index: info for info in backend.shard_info()}
        index = backend.shard_of("erin")
        assert after[index].pid != before[index].pid
        assert after[index].generation == before[index].generation + 1
        assert rt.stats().duplicates == 9
        assert backend.statistics()["shard_restarts"] == 1


def test_with_a_memory_store_a_restarted_shards_sessions_start_over(gate: object) -> None:
    backend = RayBackend(shards=1, bot_path=LEDGER, batch_size=2, batch_window=600.0)
    with Runtime(load_bot(LEDGER, fresh=True), backend=backend) as rt:
        first = [rt.send_message("fay", "a"), rt.send_message("fay", "block")]
        ray.get(gate.wait_arrived.remote(), timeout=WAIT)  # type: ignore[attr-defined]
        ray.kill(ray.get_actor("shard-0", namespace=backend.namespace), no_restart=False)
        # "a" was answered before the kill; the resent "block" runs on an empty session: the
        # sessions in the shard's memory went with its process.
        assert [f.result(WAIT) for f in first] == [["1:a"], ["1:block"]]
        later = [rt.send_message("fay", "b"), rt.send_message("fay", "c")]  # a full batch
        assert [f.result(WAIT) for f in later] == [["2:b"], ["3:c"]]


def test_overload_and_stop_fail_futures_clearly() -> None:
    rt = Runtime(
        load_bot(LEDGER, fresh=True),
        backend=RayBackend(shards=1, bot_path=LEDGER, batch_window=600.0, batch_size=1000),
        max_pending=3,
    )
    with rt:
        held = [rt.send_message("gil", f"m{i}") for i in range(3)]
        refused = rt.send_message("gil", "one too many")
        with pytest.raises(OverloadedError):
            refused.result(0)
    # stop() drained: the window never sent the three, so the close did and they resolved.
    assert [f.result(0) for f in held] == [["1:m0"], ["2:m1"], ["3:m2"]]
    with pytest.raises(RuntimeStoppedError):
        rt.send_message("gil", "late")


def test_a_store_shards_cannot_open_is_refused_at_start() -> None:
    rt = Runtime(
        load_bot(LEDGER, fresh=True),
        store=FlakyStore(MemoryStore()),
        backend=RayBackend(shards=1, bot_path=LEDGER),
    )
    with pytest.raises(TypeError, match="shard processes"):
        rt.start()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"shards": 0}, ValueError),
        ({"shards": "2"}, ValueError),
        ({"address": 5}, TypeError),
        ({"name": "a:b"}, ValueError),
        ({"batch_window": -1}, ValueError),
        ({"workers": 4, "max_workers": 2}, ValueError),
        ({"bot_path": ""}, TypeError),
        ({"shard_cpus": -1}, ValueError),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        RayBackend(**options)  # type: ignore[arg-type]
