"""RayBackend on a simulated cluster: a head and two worker nodes on this machine, Redis store.

``ray.cluster_utils.Cluster`` runs each node's raylet as its own processes; removing a node
kills them, as a lost machine would. The head has no CPUs, so the shards (one CPU each) land
on the workers, one per node.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.exceptions")  # the optional extra (tests/ray is no package of it)

import ray
from _gate import Gate
from _processes import TEST_NAMESPACE, ray_folder, ray_pids, stop_and_check
from _redis import serve_redis
from ray.cluster_utils import Cluster

from runtime import Runtime
from runtime._loader import load_bot
from runtime.ray import RayBackend
from runtime.store import RedisStore
from runtime.testing import Transcript, compare, generate_scripts, solo_transcripts
from runtime.testing._simulation import step_event
from runtime.testing._transcript import StepResult

pytestmark = [pytest.mark.ray, pytest.mark.slow]

HERE = Path(__file__).parent
LEDGER = str(HERE / "_ray_bots.py")
GREETINGS = str(HERE.parents[1] / "runtime" / "examples" / "greetings.py")
WAIT = 120.0
# A short gap timeout: a resent event that waits for earlier ones its shard never gets fails
# within it (it held its session for 120 s before the gateway sent them along).
GAP = 5.0
# A lost node is declared dead after about 2-4 s instead of ~14 s (measured; see the notes).
HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = ray_folder(tmp_path_factory)
    built = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "object_store_memory": 100 * 1024 * 1024,
            "temp_dir": str(folder / "ray"),
            "_system_config": HEALTH_CHECKS,
        },
    )
    for _ in range(2):
        built.add_node(num_cpus=2, object_store_memory=100 * 1024 * 1024)
    built.wait_for_nodes()
    ray.init(
        address=built.address,
        namespace=TEST_NAMESPACE,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    started = ray_pids(folder)
    try:
        yield built
    finally:

        def shutdown() -> None:
            ray.shutdown()
            built.shutdown()

        stop_and_check(folder, started, shutdown)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_shards_spread_over_nodes_and_users_stay_isolated(cluster: Cluster, redis_url: str) -> None:
    scripts = generate_scripts(load_bot(GREETINGS, fresh=True), users=10, messages=6, seed=5)
    alone = solo_transcripts(GREETINGS, scripts)
    backend = RayBackend(shards=2, bot_path=GREETINGS, batch_size=8)
    store = RedisStore(redis_url, prefix="spread:")
    together: dict[str, Transcript] = {}
    with Runtime(load_bot(GREETINGS, fresh=True), store=store, backend=backend) as rt:
        workers = {node.node_id for node in cluster.worker_nodes}
        assert {info.node_id for info in backend.shard_info()} == workers
        sent: dict[str, list[concurrent.futures.Future[list[str]]]] = {u: [] for u in scripts}
        for index in range(max(len(s) for s in scripts.values())):
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
        assert {backend.shard_of(user) for user in scripts} == {0, 1}
    store.close()
    assert compare(alone, together, scripts, mode="load", replay="(ray cluster test)") == []


def test_a_node_removed_mid_load_loses_and_repeats_no_acknowledged_event(
    cluster: Cluster, redis_url: str
) -> None:
    gate = ray.remote(Gate).options(name="gate", enable_task_events=False).remote()
    backend = RayBackend(
        shards=2, bot_path=LEDGER, batch_size=64, resend_timeout=WAIT, gap_timeout=GAP
    )
    store = RedisStore(redis_url, prefix="removal:")
    users = [f"u{i}" for i in range(60)]
    doomed_user = next(u for u in users if backend.shard_of(u) == 0)
    sent: dict[str, list[str]] = {user: [] for user in users}
    futures: dict[str, list[concurrent.futures.Future[list[str]]]] = {u: [] for u in users}
    try:
        with Runtime(load_bot(LEDGER, fresh=True), store=store, backend=backend) as rt:

            def send(first: int, count: int) -> None:
                for index in range(first, first + count):
                    for user in users:
                        text = f"m{index}"
                        sent[user].append(text)
                        futures[user].append(rt.send_message(user, text))

            send(0, 10)
            sent[doomed_user].append("block")
            futures[doomed_user].append(rt.send_message(doomed_user, "block"))
            ray.get(gate.wait_arrived.remote(), timeout=WAIT)  # shard 0 holds a turn now
            send(10, 10)  # the doomed user's wait behind the held turn; the others run
            node_id = {info.index: info for info in backend.shard_info()}[0].node_id
            node = next(n for n in cluster.worker_nodes if n.node_id == node_id)
            cluster.remove_node(node, allow_graceful=False)
            for user in users:
                replies = [f.result(WAIT) for f in futures[user]]
                assert replies == [[f"{i + 1}:{t}"] for i, t in enumerate(sent[user])]
            for user in users:
                snapshot = rt.snapshot(user, timeout=WAIT)
                assert snapshot is not None
                assert snapshot.data["seen"] == sent[user]  # each once, in order
            infos = {info.index: info for info in backend.shard_info()}
            assert infos[0].node_id != node_id  # restarted on the node that is left
            assert backend.statistics()["resends"] >= 1
            stats = rt.stats()
            assert stats.events_failed == 0
            assert stats.events_processed == sum(len(s) for s in sent.values())
    finally:
        store.close()
        ray.kill(gate)
        cluster.add_node(num_cpus=2, object_store_memory=100 * 1024 * 1024)
        cluster.wait_for_nodes()
