"""W7: RayBackend with 1, 2 and 4 shards against the single-process runtime, in one run.

Two bots: the light greetings example, and the same bot whose classifier burns about 1 ms of
CPU per message before answering as the built-in one does (a realistic small model: BBF's
Keras classifier takes milliseconds). Its replies are the greetings bot's, so one oracle
(``benchmarks/_scripts.py``) checks every reply of every system.

Systems: ``direct`` (the caller's thread runs every turn: the one-process limit, no isolation),
``ours`` (``Runtime``, pooled threads), ``ray-K`` (``Runtime(backend=RayBackend(shards=K))``).
Each system gets a saturating closed-loop throughput run (events/s): 1,000 users, each sending
its next message as soon as its previous reply is in (``busy_users``, 4 sender threads: no
rounds, so no system idles at a barrier waiting for its slowest reply). The direct loop runs
each turn in its one sender, so nothing of it is in flight: it gets rounds, whose lean driver
is its best case. Then an open-loop latency run at one fixed offered rate for every system of
that bot (p50/p99 from each event's scheduled send time). Ratios are to ``ours`` of the same
run. Per-event CPU: the driver process's (load generator and gateway; a null system answering
from another thread measures the load generator alone) and, for ``ray-K``, the shard
processes' (read from ``/proc``). Then a shard call's round trip (an empty batch) and a
2-shard run on an SQLite store (every turn written before its reply).

Ray runs on this machine (``ray.init`` with 8 logical CPUs so four shards fit; loopback only,
no token auth, a 100 MiB object store, its own temp folder) and is shut down at the end.

    python benchmarks/ray_shards.py [--quick] [--out benchmarks/results/ray_shards.json]

Exit status: 0 when every reply of every system was right; 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._bots import greetings_bot
from benchmarks._load import busy_users, closed_loop, open_loop, percentile
from benchmarks._scripts import Scripts
from benchmarks._systems import DirectSystem, OnDone, OursSystem, System
from runtime import Bot
from runtime.bot import SimpleIntentClassifier
from runtime.bot._intent import IntentClassifierPrediction

SENDERS = 4
CLASSIFIER_SECONDS = 0.001


class CpuClassifier:
    """The built-in classifier after ``seconds`` of CPU (pure Python: the GIL is held)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inner = SimpleIntentClassifier()

    def predict(self, message: str, intents: Any) -> IntentClassifierPrediction:
        end = time.thread_time() + self.seconds
        while time.thread_time() < end:
            pass
        prediction: IntentClassifierPrediction = self.inner.predict(message, intents)
        return prediction


def make_bot(kind: str) -> Bot:
    bot = greetings_bot()
    if kind == "classifier-1ms":
        bot.set_classifier(CpuClassifier(CLASSIFIER_SECONDS))
    return bot


class RaySystem(OursSystem):
    """``Runtime(bot, backend=RayBackend(shards=K))``; the bot object is shipped (cloudpickle)."""

    def __init__(self, bot: Bot, shards: int, store: str | None = None) -> None:
        from runtime.ray import RayBackend  # noqa: PLC0415

        self.backend = RayBackend(shards=shards, shard_cpus=1)
        super().__init__(bot, backend=self.backend, store=store)


def make(name: str, bot: Bot, store: str | None = None) -> System:
    if name == "direct":
        return DirectSystem(bot)
    if name == "ours":
        return OursSystem(bot)
    return RaySystem(bot, int(name.split("-")[1]), store)


class NullSystem(System):
    """Answers every event with no replies from one other thread: the load generator alone.

    Like a real system's, the answers come from another thread (the Runtime's workers, Ray's
    callback thread), in bursts, so the driver pays the same hand-offs per event.
    """

    name = "null"

    def open(self, n_sessions: int) -> None:
        del n_sessions
        self._waiting: list[OnDone] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._answer, name="null-answers", daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                answers, self._waiting = self._waiting, []
            for on_done in answers:
                on_done([])

    def submit(self, session_id: str, text: str, on_done: OnDone | None = None) -> Any:
        if on_done is not None:
            with self._wake:
                self._waiting.append(on_done)
                if len(self._waiting) == 1:
                    self._wake.notify()
        return []

    def wait(self, handles: Sequence[Any]) -> list[list[str]]:
        return [[] for _ in handles]

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()


def _shard_pids(system: System) -> list[int]:
    backend = getattr(system, "backend", None)
    return [info.pid for info in backend.shard_info()] if backend is not None else []


def _cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes ``pids`` used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return total / os.sysconf("SC_CLK_TCK")


def measure_throughput(system: System, users: int, budget: float) -> dict[str, Any]:
    """Drive ``users`` users for ``budget`` s, each sending again as soon as it is answered."""
    scripts = Scripts(users)
    system.open(users)
    try:
        warm = closed_loop(system, scripts, first_round=0, rounds=1, senders=SENDERS)
        pids = _shard_pids(system)
        gc.collect()
        shard_cpu = _cpu_seconds(pids)
        cpu = time.process_time()
        if system.max_senders == 1:
            # The direct loop runs each turn in its one sender: rounds cost it no idle time
            # (nothing is in flight), and their lean driver is its best case.
            run = closed_loop(
                system, scripts, first_round=1, rounds=10**6, senders=1, budget=budget
            )
        else:
            run = busy_users(system, scripts, first_round=1, budget=budget, senders=SENDERS)
        cpu = time.process_time() - cpu
        shard_cpu = _cpu_seconds(pids) - shard_cpu
    finally:
        system.close()
    checks = [c for c in (warm.check, run.check) if c is not None]
    wrong = sum(c.wrong for c in checks)
    per_event = 1e6 / run.events if run.events else 0.0
    return {
        "events_per_s": run.rate,
        "events": run.events,
        "seconds": run.seconds,
        "driver_cpu_us_per_event": cpu * per_event,
        "shard_cpu_us_per_event": shard_cpu * per_event if pids else None,
        "wrong": wrong,
        "error": warm.error or run.error,
        "examples": [e for c in checks for e in c.examples][:2],
    }


def harness_cpu_us(users: int, budget: float) -> float:
    """Return the load generator's own CPU per event (its driver CPU with the null system)."""
    system = NullSystem(make_bot("light"))
    scripts = Scripts(users)
    system.open(users)
    try:
        cpu = time.process_time()
        run = busy_users(system, scripts, first_round=0, budget=budget, senders=SENDERS)
        cpu = time.process_time() - cpu
    finally:
        system.close()
    return 1e6 * cpu / run.events if run.events else 0.0


def measure_latency(system: System, users: int, rate: float, duration: float) -> dict[str, Any]:
    scripts = Scripts(users)
    system.open(users)
    try:
        warm = closed_loop(system, scripts, first_round=0, rounds=1, senders=SENDERS)
        run = open_loop(system, scripts, first_round=1, rate=rate, duration=duration)
    finally:
        system.close()
    wrong = sum(c.wrong for c in (warm.check, run.check) if c is not None)
    lat = run.latencies
    return {
        "offered_per_s": rate,
        "sent": run.sent,
        "p50_ms": percentile(lat, 0.5) * 1000 if lat else None,
        "p99_ms": percentile(lat, 0.99) * 1000 if lat else None,
        "wrong": wrong,
        "error": warm.error or run.error,
    }


def round_trip_ms(calls: int) -> float:
    """Time a shard call with an empty batch, one at a time (Ray's floor per batch)."""
    import ray  # noqa: PLC0415

    from runtime import Runtime  # noqa: PLC0415
    from runtime.ray import RayBackend  # noqa: PLC0415

    backend = RayBackend(shards=1)
    with Runtime(make_bot("light"), backend=backend):
        actor = ray.get_actor("shard-0", namespace=backend.namespace)
        ray.get(actor.handle.remote([]))
        began = time.perf_counter()
        for _ in range(calls):
            ray.get(actor.handle.remote([]))
        return 1000 * (time.perf_counter() - began) / calls


def start_ray(folder: str) -> None:
    import ray  # noqa: PLC0415

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ["RAY_TMPDIR"] = folder
    Path(folder, "ray").mkdir(exist_ok=True)
    ray.init(
        num_cpus=8,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        _temp_dir=str(Path(folder, "ray")),
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small runs (a smoke test)")
    parser.add_argument("--out", default=None, help="where the JSON goes")
    args = parser.parse_args(argv)
    quick = args.quick
    out = args.out or f"benchmarks/results/ray_shards{'_quick' if quick else ''}.json"
    systems = ["direct", "ours", "ray-1", "ray-2", "ray-4"]
    users = 200 if quick else 1000  # each with one message in flight
    budgets = {"light": 2.0 if quick else 8.0, "classifier-1ms": 3.0 if quick else 12.0}
    durations = {"light": 1.0 if quick else 5.0, "classifier-1ms": 1.0 if quick else 5.0}
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "quick": quick,
        "bots": {},
    }
    ok = True
    import ray  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="w7-", dir="/tmp") as folder:
        start_ray(folder)
        try:
            harness = harness_cpu_us(users, budgets["light"] / 2)
            results["harness_cpu_us_per_event"] = harness
            print(f"load generator alone: {harness:.1f} us of CPU per event", flush=True)
            for kind, budget in budgets.items():
                print(f"== {kind} ({users} users)", flush=True)
                entries: dict[str, Any] = {}
                for name in systems:
                    entry = measure_throughput(make(name, make_bot(kind)), users, budget)
                    entries[name] = {"throughput": entry}
                    ok = ok and entry["wrong"] == 0 and entry["error"] is None
                    print(
                        f"  {name:8} {entry['events_per_s']:>10,.0f} events/s  "
                        f"driver {entry['driver_cpu_us_per_event']:6.1f} us/event  "
                        f"shards {entry['shard_cpu_us_per_event'] or 0:6.1f} us/event  "
                        f"wrong {entry['wrong']} {entry['error'] or ''}",
                        flush=True,
                    )
                base = entries["ours"]["throughput"]["events_per_s"]
                rate = 0.5 * base  # half the single-process runtime's rate, for every system
                for name in systems:
                    entry = measure_latency(
                        make(name, make_bot(kind)), users, rate, durations[kind]
                    )
                    entries[name]["latency"] = entry
                    entries[name]["ratio_to_ours"] = (
                        entries[name]["throughput"]["events_per_s"] / base if base else None
                    )
                    ok = ok and entry["wrong"] == 0 and entry["error"] is None
                    print(
                        f"  {name:8} at {rate:,.0f}/s  p50 {entry['p50_ms'] or 0:7.2f} ms  "
                        f"p99 {entry['p99_ms'] or 0:7.2f} ms  x{entries[name]['ratio_to_ours']:.2f}"
                        f"  wrong {entry['wrong']} {entry['error'] or ''}",
                        flush=True,
                    )
                results["bots"][kind] = entries
            costs: dict[str, Any] = {"round_trip_ms": round_trip_ms(50 if quick else 500)}
            with tempfile.TemporaryDirectory(prefix="w7-sqlite-", dir="/tmp") as data:
                store = f"sqlite:///{data}/sessions.db"
                costs["ray-2_sqlite"] = measure_throughput(
                    make("ray-2", make_bot("light"), store), users, budgets["light"]
                )
            ok = ok and costs["ray-2_sqlite"]["wrong"] == 0
            results["costs"] = costs
            print(
                f"  shard call round trip {costs['round_trip_ms']:.2f} ms; ray-2 on SQLite "
                f"{costs['ray-2_sqlite']['events_per_s']:,.0f} events/s",
                flush=True,
            )
        finally:
            ray.shutdown()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))
    print(f"wrote {out}; {'every reply right' if ok else 'WRONG REPLIES OR ERRORS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
