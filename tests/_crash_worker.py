"""The process ``tests/test_crash_recovery.py`` kills: a ledger bot under load on a durable store.

Run as a script::

    python tests/_crash_worker.py --store sqlite:////tmp/x/sessions.db --ack-log /tmp/x/acks \
        --sessions 20 --events 200 --threads 4 --seed 1

It serves :data:`bot` (a ledger: ``add <token>`` appends the token to the session's ``items``
and replies ``"<count>:<token>"``, so every reply says how many times events were applied) on
``Runtime(bot, store=URL)``, and sends each session's events ``0..E-1`` that the ack log does
not list yet, in order, with ``message_id=f"{session_id}:{seq}"``. Each session's events go
from the one thread that owns it (``T`` threads share the sessions), up to
:data:`PIPELINE_DEPTH` futures in flight per session so that turns are mid-commit when the
process is killed. A resolved future is acknowledged by one JSON line in the ack log,
``{"session_id": ..., "seq": ..., "replies": [...]}``, written with a single ``os.write`` on an
``O_APPEND`` descriptor: a ``SIGKILL`` leaves whole lines only, and concurrent threads never
interleave.

On stdout it prints ``ready`` once the runtime has started and ``done`` once every event of
every session is acknowledged; then it stops the runtime and exits 0. A failed future or a
timeout ends it with a traceback on stderr and exit status 1. Log lines go to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future

from runtime import Bot, Runtime, Session
from runtime.log import configure_cli_logging

__all__ = [
    "PIPELINE_DEPTH",
    "STAMP_EVERY",
    "STAMP_START",
    "WELCOME",
    "bot",
    "message_id",
    "read_acks",
    "session_ids",
    "token",
]

#: The initial body's reply: the first event of a session replies with it, then its own reply.
WELCOME = "ledger open"
#: Every STAMP_EVERY-th item also stores ``("stamp", (count, STAMP_START + count minutes))``:
#: a tuple holding a timezone-aware datetime, which the JSON codec must give back exactly.
STAMP_EVERY = 5
STAMP_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: The most unresolved futures one session has at a time.
PIPELINE_DEPTH = 3
#: Seconds a single future may take before the worker gives up (a hang is a failure).
FUTURE_TIMEOUT = 60.0


def session_ids(sessions: int) -> list[str]:
    """Return the ids of the first ``sessions`` sessions of the workload."""
    return [f"user-{number:03d}" for number in range(sessions)]


def token(session_id: str, seq: int) -> str:
    """Return the token event ``seq`` of ``session_id`` adds (the same on every resend)."""
    return f"{session_id}.{seq}"


def message_id(session_id: str, seq: int) -> str:
    """Return the ``message_id`` event ``seq`` of ``session_id`` is sent (and resent) with."""
    return f"{session_id}:{seq}"


# -- the bot --------------------------------------------------------------------------------

bot = Bot("ledger")
ledger = bot.new_state("ledger", initial=True)


def welcome_body(session: Session) -> None:
    """Greet a new session."""
    session.reply(WELCOME)


def add_body(session: Session) -> None:
    """Append the token of ``add <token>`` to ``items`` and reply ``"<count>:<token>"``."""
    command, _, item = (session.message or "").partition(" ")
    if command != "add" or not item:
        session.reply(f"unknown command: {session.message!r}")
        return
    # A new list, never append(): a rolled-back turn puts the old value back.
    items = [*(session.get("items") or []), item]
    session.set("items", items)
    if len(items) % STAMP_EVERY == 0:
        session.set("stamp", (len(items), STAMP_START + dt.timedelta(minutes=len(items))))
    session.reply(f"{len(items)}:{item}")


ledger.set_body(welcome_body)
ledger.set_fallback_body(add_body)  # no transitions: every message reaches the fallback


# -- the ack log ----------------------------------------------------------------------------


def read_acks(path: str) -> list[dict[str, object]]:
    """Return the ack log's records, oldest first (an absent log has none).

    Raises:
        ValueError: a line is not a whole JSON record (the log was torn: a worker bug).
    """
    try:
        with open(path, encoding="utf-8") as log:
            text = log.read()
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if not line.endswith("\n"):
            raise ValueError(f"{path}:{number}: torn ack line (no newline): {line!r}")
        records.append(json.loads(line))
    return records


class AckLog:
    """Append acknowledgements to the log, one ``os.write`` of one whole line each."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def acknowledge(self, session_id: str, seq: int, replies: Sequence[str]) -> None:
        """Record that event ``seq`` of ``session_id`` resolved with ``replies``."""
        record = {"session_id": session_id, "seq": seq, "replies": list(replies)}
        line = (json.dumps(record) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # a regular file takes all of it; say so loudly if not
            raise OSError(f"short write to the ack log: {written} of {len(line)} bytes")

    def close(self) -> None:
        """Close the log's descriptor."""
        os.close(self._fd)


# -- the load -------------------------------------------------------------------------------


def send_all(
    runtime: Runtime,
    acks: AckLog,
    unacked: dict[str, deque[int]],
    order: Iterable[str],
) -> None:
    """Send every unacknowledged event of the sessions in ``order``, pipelined, and ack each.

    Events of one session are sent in order and acknowledged in order; each round tops every
    session up to PIPELINE_DEPTH futures in flight, then waits for the oldest of each.
    """
    sessions = list(order)
    in_flight: dict[str, deque[tuple[int, Future[list[str]]]]] = {s: deque() for s in sessions}
    while any(unacked[s] or in_flight[s] for s in sessions):
        for session_id in sessions:
            waiting, flying = unacked[session_id], in_flight[session_id]
            while waiting and len(flying) < PIPELINE_DEPTH:
                seq = waiting.popleft()
                text = f"add {token(session_id, seq)}"
                future = runtime.send_message(
                    session_id, text, message_id=message_id(session_id, seq)
                )
                flying.append((seq, future))
        for session_id in sessions:
            if in_flight[session_id]:
                seq, future = in_flight[session_id].popleft()
                acks.acknowledge(session_id, seq, future.result(timeout=FUTURE_TIMEOUT))


def unacknowledged(path: str, sessions: Sequence[str], events: int) -> dict[str, deque[int]]:
    """Return, per session, the events ``0..events-1`` the ack log does not list, in order."""
    acked = {(record["session_id"], record["seq"]) for record in read_acks(path)}
    return {
        session_id: deque(seq for seq in range(events) if (session_id, seq) not in acked)
        for session_id in sessions
    }


def run(args: argparse.Namespace) -> int:
    """Serve the workload until every event is acknowledged; return the exit status."""
    sessions = session_ids(args.sessions)
    unacked = unacknowledged(args.ack_log, sessions, args.events)
    acks = AckLog(args.ack_log)
    failures: list[BaseException] = []

    def serve(owned: list[str]) -> None:
        try:
            send_all(runtime, acks, unacked, owned)
        except BaseException as exc:  # reported by the main thread, with its traceback
            failures.append(exc)

    runtime = Runtime(bot, store=args.store, drain_timeout=30.0).start()
    try:
        print("ready", flush=True)
        threads = []
        for number in range(args.threads):
            owned = sessions[number :: args.threads]
            random.Random(f"{args.seed}:{number}").shuffle(owned)
            threads.append(threading.Thread(target=serve, args=(owned,), name=f"load-{number}"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        print("done", flush=True)
    finally:
        runtime.stop()
        acks.close()
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the worker's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a durable store URL")
    parser.add_argument("--ack-log", required=True, help="the JSON-lines ack log (appended)")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="events per session")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0, help="shuffles each thread's sessions")
    return parser.parse_args(argv)


if __name__ == "__main__":
    configure_cli_logging(logging.WARNING)
    sys.exit(run(parse_args(sys.argv[1:])))
