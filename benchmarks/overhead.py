"""Where an event's microseconds go: the runtime's per-event cost taken apart, in one run.

W1 compares whole systems; this measures the parts of ours that the direct loop does not pay,
each on its own, single sender, the greetings bot (as W1), same process:

- ``direct``: the caller runs ``Engine.run_turn`` on its sessions (W1's direct loop);
- ``ours, no hand-off``: ``Runtime.send_message`` with every slice run on the sender's thread
  at once (a dispatcher whose ``schedule`` runs the slice): the runtime's bookkeeping (event,
  future, request, counters, inbox, slice, commit point, settlement) without any thread;
- ``ours``: the real runtime (2 worker threads);
- ``hand-off``: nothing but a ``ReplyFuture`` sent to one worker thread over a queue and
  resolved there, the sender waiting for each batch (batches of 1, 25 and 250, W1's rounds
  at 100 and 1k sessions over 4 senders), against the same futures resolved inline.

Each is timed with the garbage collector on (as the library runs: it never changes GC
settings) and off (the difference is the collector's share), with gen-0 collections per 1,000
events. Last, a count that does not depend on the machine or its load: the Python bytecodes
(and Python calls) one event executes, direct loop against ours with no hand-off, split into
the bot's logic (``runtime/engine.py``, ``runtime/session.py``, ``runtime/bot/``, the bot's
file), the runtime's bookkeeping (the rest of ``runtime/``, split by what it is for: accepting
the event, the inbox and slice, the session actor's turn, the commit point, settlement) and
the harness. Usage::

    python benchmarks/overhead.py            # 1k sessions, 100 messages each (~1 minute)
    python benchmarks/overhead.py --sessions 100 --messages 600
"""

from __future__ import annotations

import argparse
import gc
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._bots import greetings_bot
from benchmarks._scripts import Scripts
from runtime import Runtime
from runtime._future import ReplyFuture
from runtime.actors import Dispatcher
from runtime.backends import threads
from runtime.engine import Engine, TurnKind
from runtime.session import Session, SessionData

Round = Callable[[int], list[Any]]


class InlineDispatcher(Dispatcher):
    """Run each scheduled slice at once on the scheduling thread (no hand-off at all)."""

    def schedule(self, actor: Any) -> None:
        actor._pooled_run_slice(self.slice_budget)


def _direct(scripts: Scripts) -> tuple[Round, Callable[[], None]]:
    bot = greetings_bot()
    bot.freeze()
    run_turn = Engine(bot).run_turn
    sessions: dict[str, Session] = {}

    def one(session_id: str, text: str) -> list[str]:
        session = sessions.get(session_id)
        if session is None:
            session = sessions[session_id] = Session(SessionData(session_id), bot)
        return run_turn(session, TurnKind.MESSAGE, text).replies

    ids = scripts.ids
    return (lambda r: list(map(one, ids, _texts(scripts, r)))), (lambda: None)


def _ours(scripts: Scripts, *, inline: bool) -> tuple[Round, Callable[[], None]]:
    if inline:
        with mock.patch.object(threads, "Dispatcher", InlineDispatcher):
            runtime = Runtime(greetings_bot()).start()
    else:
        runtime = Runtime(greetings_bot()).start()
    send = runtime.send_message
    ids = scripts.ids

    def round_(r: int) -> list[Any]:
        futures = list(map(send, ids, _texts(scripts, r)))
        return [future.result(60) for future in futures]

    return round_, runtime.stop


def _texts(scripts: Scripts, round_: int) -> list[str]:
    return [scripts.text(user, round_) for user in range(len(scripts))]


def _timed(round_: Round, scripts: Scripts, messages: int, *, collect: bool) -> tuple[float, int]:
    """Return (us per event, gen-0 collections per 1k events) over ``messages`` rounds."""
    round_(0)  # activation, untimed
    expected = [scripts.expected(user, 1, messages) for user in range(len(scripts))]
    gc.collect()
    if not collect:
        gc.disable()
    before = gc.get_stats()[0]["collections"]
    started = time.perf_counter()
    got = [round_(r) for r in range(1, messages + 1)]
    seconds = time.perf_counter() - started
    collections = gc.get_stats()[0]["collections"] - before
    gc.enable()
    for user in range(len(scripts)):
        transcript = [replies[user] for replies in got]
        if transcript != expected[user]:
            raise SystemExit(f"wrong replies for user {user}: the measurement is void")
    events = len(scripts) * messages
    return 1e6 * seconds / events, round(1000 * collections / events, 1)


def _handoff(batch: int, events: int, *, threaded: bool) -> float:
    """Return us per future resolved by a worker thread (or inline), waited for by batch."""
    work: queue.SimpleQueue[ReplyFuture[Any] | None] = queue.SimpleQueue()

    def worker() -> None:
        while (future := work.get()) is not None:
            future.set_result(None)

    thread = threading.Thread(target=worker, daemon=True)
    if threaded:
        thread.start()
    started = time.perf_counter()
    for _ in range(events // batch):
        futures: list[ReplyFuture[Any]] = [ReplyFuture() for _ in range(batch)]
        for future in futures:
            if threaded:
                work.put(future)
            else:
                future.set_result(None)
        for future in futures:
            future.result(60)
    seconds = time.perf_counter() - started
    if threaded:
        work.put(None)
        thread.join(60)
    return 1e6 * seconds / (events // batch * batch)


_BOT_LOGIC = ("runtime/engine.py", "runtime/session.py", "runtime/bot/", "runtime/examples/")


# The runtime's bookkeeping by what it is for, by module (the first match wins).
_RUNTIME_PARTS = (
    ("accept", ("runtime/runtime.py", "runtime/backends/", "runtime/actors/_directory.py")),
    ("inbox and slice", ("runtime/actors/_pooled.py", "runtime/actors/_dispatcher.py")),
    ("actor's turn", ("runtime/actors/_session_actor.py", "runtime/actors/_ending.py")),
    ("commit point", ("runtime/turn.py", "runtime/_values.py")),
    ("settlement", ("runtime/actors/_requests.py", "runtime/_future.py", "runtime/stats.py")),
)
_RUNTIME_PART_NOTES = {
    "accept": "validation, counters and backpressure, routing",
    "inbox and slice": "per-session FIFO: the inbox's queue and lock, the slice and its end",
    "actor's turn": "the session actor's turn: future marked running, claim, publication",
    "commit point": "history trim, rollback copy of the data (none when empty), state advanced",
    "settlement": "the request-future made and resolved, the counters",
}
_PROJECT = Path(__file__).resolve().parent.parent.as_posix() + "/"


def _part(path: str) -> str:
    """Which part of an event's work a project file (its path in the project) is."""
    if any(part in path for part in _BOT_LOGIC) or path.startswith("<string>"):
        return "bot logic"  # <string>: the dataclass __init__s the engine makes per turn
    if not path.startswith("runtime/"):
        return "harness"
    for name, modules in _RUNTIME_PARTS:
        if any(module in path for module in modules):
            return name
    return "runtime, other"


def _frame_part(frame: Any) -> str:
    """The part of the project code running ``frame``, or calling it (the standard library,
    pykka: the part of the nearest project frame below it; none: the harness)."""
    while frame is not None:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if filename.startswith(_PROJECT):
            return _part(filename[len(_PROJECT) :])
        if filename.startswith("<string>"):
            return _part(filename)
        frame = frame.f_back
    return "harness"


def _bytecodes(round_: Round, events: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Return {part: (bytecodes, Python calls) per event} over ``rounds`` traced rounds."""
    counts: dict[str, list[int]] = {}

    def trace(frame: Any, event: str, arg: Any) -> Any:
        tally = counts.setdefault(_frame_part(frame), [0, 0])
        tally[1] += 1
        frame.f_trace_opcodes = True

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                tally[0] += 1
            return local

        return local

    threading.settrace(trace)
    sys.settrace(trace)
    try:
        for r in range(2, 2 + rounds):
            round_(r)
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    total = events * rounds
    return {part: (ops / total, calls / total) for part, (ops, calls) in counts.items()}


def _bytecode_table(sessions: int) -> None:
    scripts = Scripts(sessions)
    print(f"{'bytecodes per event':24} {'bot logic':>10} {'runtime':>10} {'calls':>6}")
    split: dict[str, tuple[float, float]] = {}
    for name, make in (
        ("direct", lambda: _direct(scripts)),
        ("ours, no hand-off", lambda: _ours(scripts, inline=True)),
    ):
        round_, close = make()
        try:
            round_(0)
            round_(1)
            parts = _bytecodes(round_, sessions, 5)
        finally:
            close()
        bot = parts.pop("bot logic", (0.0, 0.0))
        parts.pop("harness", None)
        runtime = sum(ops for ops, _ in parts.values())
        calls = bot[1] + sum(calls for _, calls in parts.values())
        print(f"{name:24} {bot[0]:10.0f} {runtime:10.0f} {calls:6.1f}")
        if name == "ours, no hand-off":
            split = parts
    print(f"{'the runtime by part':24} {'bytecodes':>10} {'calls':>6}  what for")
    for name in [*(part for part, _ in _RUNTIME_PARTS), "runtime, other"]:
        ops, calls = split.get(name, (0.0, 0.0))
        print(f"{name:24} {ops:10.0f} {calls:6.1f}  {_RUNTIME_PART_NOTES.get(name, '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=100, help="timed messages per session")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.messages < 1:
        parser.error("--sessions and --messages must be positive")
    scripts = Scripts(args.sessions)
    print(f"{args.sessions:,} sessions x {args.messages} messages, 1 sender, greetings bot")
    print(f"{'system':24} {'us/event':>9} {'no GC':>9} {'GC share':>9} {'gen0/1k':>8}")
    rows: dict[str, float] = {}
    for name, make in (
        ("direct", lambda: _direct(scripts)),
        ("ours, no hand-off", lambda: _ours(scripts, inline=True)),
        ("ours", lambda: _ours(scripts, inline=False)),
    ):
        timings = []
        for collect in (True, False):
            round_, close = make()
            try:
                timings.append(_timed(round_, scripts, args.messages, collect=collect))
            finally:
                close()
        (with_gc, gen0), (without_gc, _) = timings
        rows[name] = with_gc
        share = 1 - without_gc / with_gc
        print(f"{name:24} {with_gc:9.2f} {without_gc:9.2f} {share:9.0%} {gen0:8.1f}")
    direct = rows["direct"]
    print(
        f"bookkeeping (no hand-off - direct): {rows['ours, no hand-off'] - direct:.2f} us; "
        f"threads (ours - no hand-off): {rows['ours'] - rows['ours, no hand-off']:.2f} us; "
        f"ours/direct speed: {direct / rows['ours']:.2f}x"
    )
    print(f"{'hand-off alone':24} {'inline':>9} {'thread':>9} {'cost':>9}")
    for batch in (1, 25, 250):
        events = 20_000 if batch == 1 else 200_000
        inline = _handoff(batch, events, threaded=False)
        threaded = _handoff(batch, events, threaded=True)
        print(f"{'batch ' + str(batch):24} {inline:9.2f} {threaded:9.2f} {threaded - inline:9.2f}")
    _bytecode_table(min(args.sessions, 200))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
