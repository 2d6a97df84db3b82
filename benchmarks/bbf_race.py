"""Measure BBF 1.5's lost updates: one session, 8 threads, a read-modify-write body.

BBF's ``Bot.receive_message`` runs a message on the caller's thread with no lock per session,
and its WebSocket platform serves each connection on its own thread. This script defines a
tiny BBF bot whose body does ``session.set('n', (session.get('n') or 0) + 1)``, sends N
messages to ONE session from 8 threads at once (a barrier starts them together), and counts:

- ``lost_updates``: increments overwritten by another thread's (body runs minus final ``n``);
- ``skipped``: messages whose body never ran (the session's state moved under them: BBF's
  current state is shared too, so a message can land while the session is in the counting
  state and follow its ``auto`` transition instead);
- ``lost_share``: ``1 - n / N``, both together: the share of messages a user lost.

Two bodies: ``tight`` is the one-liner above; ``io`` reads, waits 1 ms (any call that
releases the GIL: a database, an HTTP API, a log handler writing to a socket), then writes.
A one-thread run of the same bot and messages is the baseline (it must lose nothing).

Run with the project's python (it builds or finds the BBF virtualenv of
``tests/compat/_bbf_venv.py`` and re-runs itself there), or directly with that python::

    python benchmarks/bbf_race.py [--messages 4000] [--threads 8] [--repeats 5] [--out F.json]
    .cache/bbf-venv-1.5.0/venv/bin/python benchmarks/bbf_race.py

It prints the figures and the exact command, and writes them as JSON
(default ``benchmarks/results/bbf_race.json``).
"""

# No "from __future__ import annotations": BBF's set_body compares a body's signature with its
# own, annotation objects included, and would reject the string "Session".
import argparse
import importlib.util
import itertools
import json
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "bbf_race.json"


@dataclass(frozen=True)
class Trial:
    """One run: N messages to one session from ``threads`` threads."""

    body: str
    threads: int
    messages: int
    body_runs: int
    final_n: int
    seconds: float

    @property
    def lost_updates(self) -> int:
        return self.body_runs - self.final_n

    @property
    def skipped(self) -> int:
        return self.messages - self.body_runs

    @property
    def lost_share(self) -> float:
        return 1 - self.final_n / self.messages


BODIES = ("tight", "io")


def _body(name: str, runs: "itertools.count[int]") -> Callable[[Any], None]:
    """Return the body called ``name``; it counts its runs on ``runs`` (atomic in CPython)."""
    # BBF exists only in its virtualenv (and has no types); this file also starts outside it.
    from besser.bot.core.session import Session  # type: ignore[import-not-found]  # noqa: PLC0415

    def tight(session: Session) -> None:
        next(runs)
        session.set("n", (session.get("n") or 0) + 1)

    def io(session: Session) -> None:
        next(runs)
        n = session.get("n") or 0
        time.sleep(0.001)
        session.set("n", n + 1)

    return {"tight": tight, "io": io}[name]


def trial(body_name: str, threads: int, messages: int) -> Trial:
    """Run one trial in this process (which must be the BBF virtualenv's python)."""
    from besser.bot.core.bot import Bot  # type: ignore[import-not-found]  # noqa: PLC0415
    from besser.bot.platforms.platform import (  # type: ignore[import-not-found]  # noqa: PLC0415
        Platform,
    )

    class NullPlatform(Platform):  # type: ignore[misc]  # BBF's class is untyped
        def initialize(self) -> None: ...
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def _send(self, session_id: str, payload: Any) -> None: ...
        def reply(self, session: Any, message: str) -> None: ...

    runs = itertools.count()
    bot = Bot(f"race_{body_name}")
    null = NullPlatform()
    bot._platforms.append(null)
    initial = bot.new_state("initial", initial=True)
    count = bot.new_state("count")
    initial.when_no_intent_matched_go_to(count)  # no intents: every message is "no intent"
    count.set_body(_body(body_name, runs))
    count.go_to(initial)
    bot.train()
    session = bot.get_or_create_session("race", null)

    per_thread = [messages // threads + (i < messages % threads) for i in range(threads)]
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def sender(count_: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(count_):
                bot.receive_message(session.id, f"m{i}")
        except BaseException as exc:  # reported below; a thread must not die silently
            failures.append(exc)

    workers = [threading.Thread(target=sender, args=(c,)) for c in per_thread]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} sender threads failed") from failures[0]
    return Trial(
        body=body_name,
        threads=threads,
        messages=messages,
        body_runs=next(runs),
        final_n=session.get("n") or 0,
        seconds=round(seconds, 3),
    )


def measure(threads: int, messages: int, repeats: int) -> dict[str, Any]:
    """Run the baseline and the concurrent trials of both bodies; return the figures."""
    results: dict[str, Any] = {}
    for body_name in BODIES:
        baseline = trial(body_name, 1, messages)
        concurrent = [trial(body_name, threads, messages) for _ in range(repeats)]
        results[body_name] = {
            "baseline_1_thread": {**asdict(baseline), "lost_share": baseline.lost_share},
            "trials": [
                {
                    **asdict(t),
                    "lost_updates": t.lost_updates,
                    "skipped": t.skipped,
                    "lost_share": round(t.lost_share, 4),
                }
                for t in concurrent
            ],
            "median_lost_share": round(statistics.median(t.lost_share for t in concurrent), 4),
        }
    return results


def _in_bbf_venv() -> bool:
    # The distribution, not the module: runtime.compat can make "besser.bot" importable here.
    try:
        version("besser-bot-framework")
    except PackageNotFoundError:
        return False
    return True


def _rerun_in_bbf_venv(argv: list[str]) -> int:
    """Build or find the BBF virtualenv (tests/compat/_bbf_venv.py) and run this file there."""
    path = REPO / "tests" / "compat" / "_bbf_venv.py"
    spec = importlib.util.spec_from_file_location("_bbf_venv", path)
    assert spec is not None, path
    assert spec.loader is not None, path
    bbf_venv = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bbf_venv  # its dataclasses look their module up there
    spec.loader.exec_module(bbf_venv)
    command = [str(bbf_venv.bbf_python()), str(Path(__file__).resolve()), *argv]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure, print and write the figures; return the exit status."""
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000, help="messages per trial")
    parser.add_argument("--threads", type=int, default=8, help="sender threads")
    parser.add_argument("--repeats", type=int, default=5, help="concurrent trials per body")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON file to write")
    args = parser.parse_args(args_list)
    if not _in_bbf_venv():
        return _rerun_in_bbf_venv(args_list)

    command = shlex.join([sys.executable, str(Path(__file__).resolve()), *args_list])
    results = measure(args.threads, args.messages, args.repeats)
    report = {
        "command": command,
        "bbf_version": _bbf_version(),
        "python": platform.python_version(),
        "switch_interval_s": sys.getswitchinterval(),
        "messages": args.messages,
        "threads": args.threads,
        "bodies": results,
    }
    print(f"command: {command}")
    for body_name, figures in results.items():
        base = figures["baseline_1_thread"]
        print(
            f"{body_name}: baseline (1 thread) n={base['final_n']}/{base['messages']}; "
            f"{args.threads} threads, median lost share {figures['median_lost_share']:.1%}"
        )
        for t in figures["trials"]:
            print(
                f"  n={t['final_n']}/{t['messages']} body runs={t['body_runs']} "
                f"lost updates={t['lost_updates']} skipped={t['skipped']} "
                f"lost share={t['lost_share']:.1%} ({t['seconds']} s)"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _bbf_version() -> str:
    return version("besser-bot-framework")


if __name__ == "__main__":
    sys.exit(main())
