"""Kill -9 crash test: a runtime killed at random moments under load loses and repeats nothing.

Each durable store (SQLite, a private Redis) gets the same treatment. A worker process
(``tests/_crash_worker.py``: a ledger bot, ``add <token>`` appends the token and replies
``"<count>:<token>"``) sends every event its ack log does not list yet from several threads,
with ``message_id=f"{session_id}:{seq}"``, and logs each resolved future. The test starts it,
waits for its ``ready``, and ``SIGKILL``\\ s it after a random delay (0 to ``MAX_KILL_DELAY``);
after every kill the store must hold every acknowledged event, each once and in order. After
the round's last kill one more worker runs until ``done``, and then the store and the ack log
must equal a sequential model's: every session's items, ``stamp`` (a tuple with a datetime),
chat history and remembered message ids, and every acknowledged reply (the first of a session
also carries the initial body's reply).

A kill lands in one of three places, and all of them occur: before an event was committed (the
resend runs it), between its commit and its ack line (the resend must return the stored
replies without running the body again: the count in the reply proves it), or after the ack.
Each cycle prints what it saw (``pytest -s``): the delay, the events acknowledged during the
cycle, and the turns committed but not acknowledged at the kill (``new``: committed by the
killed worker itself, so the kill fell between a commit and its ack).

The cycles run in rounds of ``ROUND_CYCLES`` kills, each on a fresh store with a fresh
workload, so a long run costs the same per kill as a short one. Profiles, by environment::

    pytest tests/test_crash_recovery.py                          # CI: 50 kills per store
    CRASH_CYCLES=2000 pytest tests/test_crash_recovery.py -s     # deep: 40 rounds per store
    CRASH_SEED=7 CRASH_CYCLES=200 pytest tests/test_crash_recovery.py -k sqlite -s

``CRASH_SEED`` fixes the kill delays and the workers' session orders; where a kill lands still
depends on the machine's timing, so a failure says its seed, round and cycle, and rerunning
that command is the closest replay there is.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import random
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from _crash_worker import (
    STAMP_EVERY,
    STAMP_START,
    WELCOME,
    message_id,
    read_acks,
    session_ids,
    token,
)
from _redis import RedisServer

from runtime.session import MESSAGE_ID_MEMORY, SessionData
from runtime.store import open_store

CYCLES = int(os.environ.get("CRASH_CYCLES", "50"))
SEED = int(os.environ.get("CRASH_SEED", "20261129"))
#: Kills per round; every round starts on an empty store with the whole workload to do.
ROUND_CYCLES = 50
#: The workload of a round: SESSIONS x EVENTS events. Every turn rewrites its session's whole
#: record, history included, so EVENTS sets the cost of a turn. Measured on the 2-core dev
#: machine, 50 killed workers acknowledge about 5,500 events; 12,000 keeps every kill mid-load.
SESSIONS = 40
EVENTS = 300
THREADS = 4
#: The longest random delay between a worker's ``ready`` and its SIGKILL, in seconds.
MAX_KILL_DELAY = 0.150
#: Seconds a worker may take to start (import, open the store, read its ack log).
READY_TIMEOUT = 60.0
#: Seconds the last worker of a round may take to acknowledge what the killed ones left.
FINISH_TIMEOUT = 240.0
#: At least this share of the kills must land mid-load, or the sizes above are wrong.
MID_LOAD_SHARE = 0.8

WORKER = Path(__file__).with_name("_crash_worker.py")
EventKey = tuple[str, int]  # (session_id, seq)


# -- the sequential model -------------------------------------------------------------------


def model_replies(session_id: str, seq: int) -> list[str]:
    """Return the replies event ``seq`` gets when events run once each, in order."""
    opening = [WELCOME] if seq == 0 else []
    return [*opening, f"{seq + 1}:{token(session_id, seq)}"]


def model_items(session_id: str, events: int) -> list[str]:
    """Return the session's items after its first ``events`` events."""
    return [token(session_id, seq) for seq in range(events)]


def model_stamp(events: int) -> tuple[int, dt.datetime] | None:
    """Return the session's ``stamp`` after ``events`` events (None before the first)."""
    count = events - events % STAMP_EVERY
    return None if count == 0 else (count, STAMP_START + dt.timedelta(minutes=count))


def model_transcript(session_id: str, events: int) -> list[tuple[str, int]]:
    """Return the chat history after ``events`` events: welcome, then message and reply each."""
    history = [(WELCOME, 0)]
    for seq in range(events):
        history.append((f"add {token(session_id, seq)}", 1))
        history.append((f"{seq + 1}:{token(session_id, seq)}", 0))
    return history


# -- the stores and the workers -------------------------------------------------------------


@dataclass
class DurableStoreUnderTest:
    """One kind of durable store; each round gets an empty one."""

    kind: str  # "sqlite" or "redis"
    directory: Path
    server: RedisServer | None = None

    def empty_store_url(self, round_number: int) -> str:
        """Return the URL of an empty store for round ``round_number``."""
        if self.server is None:
            # tmp_path is absolute: "sqlite:///" + "/tmp/..." makes the four slashes.
            return f"sqlite:///{self.directory / f'round-{round_number}.db'}"
        if round_number:
            # The private server keeps nothing across a restart (no RDB, no AOF).
            self.server.stop()
            self.server.start()
        return self.server.url


@dataclass
class CrashRound:
    """One round: its store, its ack log, and what a failure message must say."""

    kind: str
    number: int
    store_url: str
    ack_log: Path
    stderr_path: Path
    sessions: list[str]

    def where(self, cycle: int | None = None) -> str:
        """Say where in the run we are, and the command that runs it again."""
        at = f"round {self.number}" + ("" if cycle is None else f", cycle {cycle}")
        return (
            f"[{self.kind}, {at}, seed {SEED}; reproduce: CRASH_SEED={SEED} "
            f"CRASH_CYCLES={CYCLES} python -m pytest tests/test_crash_recovery.py -k {self.kind}"
            f" -s -p no:cacheprovider]\nworkers' stderr ends with:\n{self.worker_stderr()}"
        )

    def worker_stderr(self) -> str:
        """Return the end of what the workers wrote on stderr (tracebacks, log lines)."""
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return text[-3000:] or "(nothing)"

    def acks(self) -> list[dict[str, Any]]:
        """Return the ack log's records."""
        return read_acks(str(self.ack_log))


class Worker:
    """One worker process; a thread forwards its stdout lines to a queue (None at the end)."""

    def __init__(self, crash_round: CrashRound, seed: int, stderr: IO[bytes]) -> None:
        self.round = crash_round
        args = [
            sys.executable,
            str(WORKER),
            "--store", crash_round.store_url,
            "--ack-log", str(crash_round.ack_log),
            "--sessions", str(len(crash_round.sessions)),
            "--events", str(EVENTS),
            "--threads", str(THREADS),
            "--seed", str(seed),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._forward_stdout, daemon=True)
        self._reader.start()

    def _forward_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, expected: str, timeout: float) -> None:
        """Wait until the worker prints ``expected``; fail if it exits or times out first."""
        if not self.prints_within(expected, timeout):
            self.kill()
            pytest.fail(
                f"the worker did not print {expected!r} within {timeout} s {self.round.where()}"
            )

    def prints_within(self, expected: str, seconds: float) -> bool:
        """Return whether the worker's next line, within ``seconds``, is ``expected``.

        Raises:
            pytest.fail.Exception: the worker printed something else, or exited first.
        """
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return False
        if line != expected:
            code = self.process.wait(timeout=30)
            pytest.fail(
                f"the worker printed {line!r} (exit status {code}), not {expected!r} "
                f"{self.round.where()}"
            )
        return True

    def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kill the worker if it still runs (a failed test), then close its stdout."""
        if self.process.poll() is None:
            self.kill()
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@dataclass(frozen=True)
class Cycle:
    """What one kill cycle saw."""

    number: int
    delay_ms: float
    killed: bool  # False: the worker had finished the workload and exited by itself
    acked_during: int  # ack lines the killed worker wrote
    acked_total: int  # distinct events acknowledged after it
    committed_unacked: frozenset[EventKey]  # in the store after the kill, not acknowledged
    new_unacked: int  # of those, how many the killed worker committed (kill between the two)

    @property
    def mid_load(self) -> bool:
        """Whether the kill landed while the worker still had events to acknowledge."""
        return self.killed and self.acked_total < SESSIONS * EVENTS

    def __str__(self) -> str:
        how = f"killed {self.delay_ms:5.1f} ms after ready" if self.killed else "exited (done)"
        return (
            f"cycle {self.number:4d}: {how}, {self.acked_during:4d} events acked, "
            f"{len(self.committed_unacked):2d} committed but unacked ({self.new_unacked:2d} new), "
            f"{self.acked_total}/{SESSIONS * EVENTS} acked in all"
        )


# -- reading what survived ------------------------------------------------------------------


def load_every_session(store_url: str, sessions: list[str]) -> dict[str, SessionData | None]:
    """Open the store as a fresh process would and load every session of the workload."""
    store = open_store(store_url)
    try:
        return {session_id: store.load(session_id) for session_id in sessions}
    finally:
        store.close()


def acked_seqs_by_session(records: list[dict[str, Any]]) -> dict[str, set[int]]:
    """Return, per session, the sequence numbers the ack log lists."""
    acked: dict[str, set[int]] = defaultdict(set)
    for record in records:
        acked[record["session_id"]].add(record["seq"])
    return acked


def stored_items(record: SessionData | None) -> list[str]:
    """Return a stored session's items (none for a session never stored)."""
    return [] if record is None else list(record.data.get("items") or [])


def check_store_holds_every_acked_event_once(
    crash_round: CrashRound, cycle: int, records: list[dict[str, Any]]
) -> frozenset[EventKey]:
    """Fail unless every session's stored items are the model's first ones, covering its acks.

    Returns:
        The stored events no ack line lists (committed, then killed before the ack).
    """
    acked = acked_seqs_by_session(records)
    committed_unacked: set[EventKey] = set()
    loaded = load_every_session(crash_round.store_url, crash_round.sessions)
    for session_id, record in loaded.items():
        items = stored_items(record)
        assert items == model_items(session_id, len(items)), (
            f"after a kill, session {session_id!r} holds {len(items)} items NOT in model order "
            f"(an event applied twice, or lost); its last ones: {items[-6:]} "
            f"{crash_round.where(cycle)}"
        )
        missing = sorted(seq for seq in acked[session_id] if seq >= len(items))
        assert not missing, (
            f"after a kill, session {session_id!r} holds {len(items)} items; acknowledged but "
            f"missing: {missing[:10]} {crash_round.where(cycle)}"
        )
        committed_unacked.update(
            (session_id, seq) for seq in range(len(items)) if seq not in acked[session_id]
        )
    return frozenset(committed_unacked)


def check_everything_matches_the_sequential_model(crash_round: CrashRound) -> None:
    """Fail unless the store and every ack line equal what a sequential run gives."""
    where = crash_round.where()
    replies_seen: dict[EventKey, list[str]] = {}
    for ack in crash_round.acks():
        key = (ack["session_id"], ack["seq"])
        replies = ack["replies"]
        first = replies_seen.setdefault(key, replies)
        assert first == replies, (
            f"event {key} was acknowledged twice with different replies: {first} then "
            f"{replies} {where}"
        )
        assert replies == model_replies(*key), (
            f"event {key} was acknowledged with {replies}, the sequential model says "
            f"{model_replies(*key)}: an event was applied twice or lost {where}"
        )
    never_acked = sorted(
        {(s, q) for s in crash_round.sessions for q in range(EVENTS)} - set(replies_seen)
    )
    assert not never_acked, f"{len(never_acked)} events never acked, e.g. {never_acked[:5]} {where}"
    for session_id, record in load_every_session(
        crash_round.store_url, crash_round.sessions
    ).items():
        assert record is not None, f"session {session_id!r} is not in the store {where}"
        items = stored_items(record)
        assert items == model_items(session_id, EVENTS), (
            f"session {session_id!r} holds {len(items)} items, not the model's {EVENTS} "
            f"(last: {items[-6:]}) {where}"
        )
        assert record.data.get("stamp") == model_stamp(EVENTS), (session_id, where)
        assert record.chat_history == model_transcript(session_id, EVENTS), (
            f"session {session_id!r}'s chat history differs from the model's transcript; "
            f"its end: {record.chat_history[-4:]} {where}"
        )
        assert record.state == "ledger", (session_id, record.state, where)
        for seq in range(max(0, EVENTS - MESSAGE_ID_MEMORY), EVENTS):
            remembered = record.replies_for(message_id(session_id, seq))
            assert remembered == tuple(model_replies(session_id, seq)), (
                f"session {session_id!r} remembers {remembered} for event {seq}, the model "
                f"says {model_replies(session_id, seq)} {where}"
            )


# -- the test -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def durable_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[DurableStoreUnderTest]:
    """Yield an SQLite directory, or a private Redis server (never skipped without one)."""
    if request.param == "sqlite":
        yield DurableStoreUnderTest("sqlite", tmp_path)
        return
    with RedisServer.private(tmp_path / "redis") as server:
        yield DurableStoreUnderTest("redis", tmp_path, server)


def kill_worker_at_random_moment(
    crash_round: CrashRound, rng: random.Random, number: int, before: frozenset[EventKey]
) -> Cycle:
    """Start a worker, SIGKILL it a random delay after ``ready``, and check what survived."""
    acked_before = len(crash_round.acks())
    delay = rng.uniform(0.0, MAX_KILL_DELAY)
    with (
        crash_round.stderr_path.open("ab") as stderr,
        Worker(crash_round, rng.randrange(2**31), stderr) as worker,
    ):
        worker.wait_for_line("ready", READY_TIMEOUT)
        # The deliberate random delay: the kill's moment. A worker may finish its load first.
        finished = worker.prints_within("done", delay)
        if finished:
            worker.process.wait(timeout=60)
        else:
            worker.kill()
    assert not finished or worker.process.returncode == 0, (
        f"the worker failed (exit status {worker.process.returncode}) {crash_round.where(number)}"
    )
    records = crash_round.acks()
    committed_unacked = check_store_holds_every_acked_event_once(crash_round, number, records)
    return Cycle(
        number=number,
        delay_ms=delay * 1000,
        killed=not finished,
        acked_during=len(records) - acked_before,
        acked_total=len({(r["session_id"], r["seq"]) for r in records}),
        committed_unacked=committed_unacked,
        new_unacked=len(committed_unacked - before),
    )


def run_worker_until_done(crash_round: CrashRound, seed: int) -> None:
    """Run one last worker, unkilled, until it has acknowledged every event and exited."""
    with (
        crash_round.stderr_path.open("ab") as stderr,
        Worker(crash_round, seed, stderr) as worker,
    ):
        worker.wait_for_line("ready", READY_TIMEOUT)
        worker.wait_for_line("done", FINISH_TIMEOUT)
        code = worker.process.wait(timeout=60)
    assert code == 0, f"the last worker exited with status {code} {crash_round.where()}"


def crash_round_of(store: DurableStoreUnderTest, number: int) -> CrashRound:
    """Return round ``number`` on an empty store, with an empty ack log."""
    return CrashRound(
        kind=store.kind,
        number=number,
        store_url=store.empty_store_url(number),
        ack_log=store.directory / f"acks-{number}.jsonl",
        stderr_path=store.directory / f"workers-{number}.stderr",
        sessions=session_ids(SESSIONS),
    )


@pytest.mark.slow
@pytest.mark.timeout(120 + 3 * CYCLES)
def test_killed_runtime_loses_and_repeats_no_acknowledged_event(
    durable_store: DurableStoreUnderTest,
) -> None:
    rng = random.Random(f"{SEED}:{durable_store.kind}")
    print(
        f"\n{durable_store.kind}: {CYCLES} kills, seed {SEED}, rounds of {ROUND_CYCLES} kills on "
        f"{SESSIONS} sessions x {EVENTS} events, {THREADS} threads"
    )
    cycles: list[Cycle] = []
    for round_number, first in enumerate(range(0, CYCLES, ROUND_CYCLES)):
        crash_round = crash_round_of(durable_store, round_number)
        unacked: frozenset[EventKey] = frozenset()
        for number in range(first, min(first + ROUND_CYCLES, CYCLES)):
            cycle = kill_worker_at_random_moment(crash_round, rng, number, unacked)
            print(cycle)
            cycles.append(cycle)
            unacked = cycle.committed_unacked
        run_worker_until_done(crash_round, rng.randrange(2**31))
        check_everything_matches_the_sequential_model(crash_round)
        print(f"round {round_number}: matches the sequential model")

    mid_load = sum(cycle.mid_load for cycle in cycles)
    between = sum(cycle.new_unacked > 0 for cycle in cycles)
    summary = (
        f"{durable_store.kind}: {mid_load}/{CYCLES} kills landed mid-load, {between} between a "
        "commit and its ack"
    )
    print(summary)
    assert mid_load >= MID_LOAD_SHARE * CYCLES, (
        f"{summary}: too few kills landed mid-load to test anything; give the rounds more work "
        "(SESSIONS, EVENTS)"
    )
