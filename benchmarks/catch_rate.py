"""Measure how often, and how fast, ``check_isolation`` catches the bots of ``catch_bots/``.

Every ``benchmarks/catch_bots/*.py`` (not ``_*.py``: helpers) is a small bot that declares
``EXPECTED = "racy"`` or ``"clean"`` and a ``KIND``. Each bot runs in its own fresh Python
process (so one bot's process-wide leftovers, such as ``os.environ`` or the global
``random``, never reach another bot, and a bot that crashes or hangs the checker becomes an
error row), which calls :func:`runtime.testing.check_isolation` once per seed 0..N-1 with
generated scripts of ``--users`` x ``--messages``. Per bot it reports:

- the catch rate: the share of seeds whose report is not isolated (per mode too);
- the time to first detection per seed: the wall time of the ``check_isolation`` call of a
  seed that caught a divergence (median and max over those seeds; the check runs all its
  modes, it does not stop at the first divergence);
- for clean bots, the false positives: seeds that reported a divergence;
- for the first seed whose simulation diverged: how many of ``--replays`` runs of its replay
  (the same seed and schedule) gave the very same divergences, and what shrinking it left
  (users, steps, switches, seconds);
- errors: seeds on which the checker raised, or why the bot's process failed.

Run from the project root::

    python benchmarks/catch_rate.py                 # 50 seeds, 8 users x 10 messages, both modes
    python benchmarks/catch_rate.py --quick         # 5 seeds: CI's smoke run
    python benchmarks/catch_rate.py --bots 'pizza*,weather*' --mode load --seeds 20
    python benchmarks/catch_rate.py --runtime-from HEAD   # the committed checker: a baseline

``--runtime-from COMMIT`` measures the ``runtime`` package of that commit (``git archive``
into a temporary folder, first on the workers' ``PYTHONPATH``) instead of the working tree's,
so a change to the checker can be measured before and after on the same machine.

It prints a table and writes JSON (default ``benchmarks/results/catch_rate.json``; with
``--quick``, ``catch_rate_quick.json``). Exit status: 0 when every bot ran and no clean bot
had a false positive; 1 when a bot errored or a clean bot was reported racy; 2 on bad
arguments. Low catch rates are measurements, not failures.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import io
import json
import logging
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BOTS = REPO / "benchmarks" / "catch_bots"
RESULTS = REPO / "benchmarks" / "results"
MODES = ("simulate", "load", "both")
QUICK_SEEDS = 5
TARGET_RATE = 0.95
"""Issue 11's target: every racy bot caught in at least 95% of seeds."""

_MARK = "catch-rate-seed "
"""Prefix of the worker's result lines on stdout (anything else a bot prints is ignored)."""
_EXTRA = "catch-rate-replay "
"""Prefix of the worker's line on replaying and shrinking the first divergence."""


# -- the bots ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotFile:
    """A bot of the folder and what it declares about itself."""

    path: Path
    name: str
    expected: str  # "racy" or "clean"
    kind: str


def declared(path: Path) -> dict[str, str]:
    """Return the module-level ``EXPECTED`` and ``KIND`` strings of a bot, without running it.

    The parent process never imports a bot: a racy bot may change process-wide state.
    """
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("EXPECTED", "KIND"):
                value = ast.literal_eval(node.value)
                if isinstance(value, str):
                    found[target.id] = value
    return found


def discover(patterns: str = "*", folder: Path = BOTS) -> list[BotFile]:
    """Return the bots of ``folder`` whose name matches one of the comma-separated patterns."""
    wanted = [part.strip() for part in patterns.split(",") if part.strip()] or ["*"]
    bots = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        if not any(fnmatch.fnmatch(path.stem, p) or fnmatch.fnmatch(path.name, p) for p in wanted):
            continue
        constants = declared(path)
        bots.append(
            BotFile(
                path,
                path.stem,
                constants.get("EXPECTED", "?"),
                constants.get("KIND", "?"),
            )
        )
    return bots


# -- one bot, in its own process ----------------------------------------------------------------


def _worker(args: argparse.Namespace) -> None:
    """Run the checker on ``bot`` for each seed; print one marked JSON line per seed; then
    replay and shrink the first simulation divergence (one marked line)."""
    from runtime.log import configure_cli_logging  # noqa: PLC0415 - only the worker needs them
    from runtime.testing import check_isolation  # noqa: PLC0415

    bot, seeds, users, messages, mode = (
        args.worker,
        args.seeds,
        args.users,
        args.messages,
        args.mode,
    )
    first = None

    configure_cli_logging(logging.CRITICAL)  # racy bodies raise on purpose; keep stderr short
    for seed in range(seeds):
        began = time.perf_counter()
        entry: dict[str, Any] = {"seed": seed}
        try:
            report = check_isolation(
                bot,
                seed=seed,
                users=users,
                messages=messages,
                mode=mode,  # type: ignore[arg-type]  # checked by the parent's argparse
                log_level=logging.CRITICAL,  # the fresh processes too
            )
        except Exception as exc:  # reported as this seed's error, the run goes on
            entry.update(caught=False, seconds=time.perf_counter() - began, error=_describe(exc))
        else:
            entry.update(
                caught=not report.isolated,
                seconds=time.perf_counter() - began,
                divergences={result.mode: len(result.divergences) for result in report.results},
                solo_seconds=report.solo_seconds,
                mode_seconds={result.mode: result.seconds for result in report.results},
                schedules={result.mode: result.runs for result in report.results},
            )
            simulated = [d for d in report.divergences if d.mode == "simulate"]
            if first is None and simulated:
                first = report
        print(_MARK + json.dumps(entry), flush=True)
    if first is not None and args.replays:
        extra = _replay_and_shrink(first, users, messages, args.replays)
        print(_EXTRA + json.dumps(extra), flush=True)


def _replay_and_shrink(report: Any, users: int, messages: int, replays: int) -> dict[str, Any]:
    """Replay the report's first simulation divergence ``replays`` times; shrink it."""
    from runtime.testing import check_isolation, shrink  # noqa: PLC0415

    divergences = [d for d in report.divergences if d.mode == "simulate"]

    def seen(found: Any) -> list[Any]:
        return [(d.user, d.step, d.actual) for d in found if d.mode == "simulate"]

    schedule = divergences[0].schedule
    same = 0
    for _ in range(replays):
        again = check_isolation(
            report.bot,
            seed=report.seed,
            users=users,
            messages=messages,
            mode="simulate",
            schedule=schedule,
            log_level=logging.CRITICAL,
        )
        same += seen(again.divergences) == seen(divergences)
    shrunk = shrink(report, log_level=logging.CRITICAL)
    return {
        "seed": report.seed,
        "schedule": schedule,
        "replays": replays,
        "replayed": same,
        "shrunk_users": None if shrunk is None else len(shrunk.scripts),
        "shrunk_steps": None if shrunk is None else shrunk.steps,
        "shrunk_switches": None if shrunk is None else shrunk.switches,
        "shrink_seconds": None if shrunk is None else shrunk.seconds,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


@dataclass
class BotRun:
    """What the runs of one bot gave."""

    bot: BotFile
    seeds: list[dict[str, Any]]
    seconds: float
    error: str | None  # why the bot's process failed (None: it ran every seed)
    replay: dict[str, Any] | None = None  # the first simulation divergence replayed, shrunk

    @property
    def caught(self) -> int:
        return sum(1 for seed in self.seeds if seed.get("caught"))

    @property
    def errors(self) -> int:
        return sum(1 for seed in self.seeds if seed.get("error"))

    def caught_by(self, mode: str) -> int:
        return sum(1 for seed in self.seeds if seed.get("divergences", {}).get(mode))

    def detections(self) -> list[float]:
        return [seed["seconds"] for seed in self.seeds if seed.get("caught")]

    @property
    def false_positives(self) -> int | None:
        return self.caught if self.bot.expected == "clean" else None

    def first_error(self) -> str | None:
        if self.error is not None:
            return self.error
        return next((seed["error"] for seed in self.seeds if seed.get("error")), None)

    def to_json(self, requested: int) -> dict[str, Any]:
        detections = self.detections()
        return {
            "bot": self.bot.name,
            "file": str(self.bot.path.relative_to(REPO)),
            "expected": self.bot.expected,
            "kind": self.bot.kind,
            "seeds_requested": requested,
            "seeds_run": len(self.seeds),
            "caught": self.caught,
            "catch_rate": self.caught / len(self.seeds) if self.seeds else None,
            "caught_by_mode": {mode: self.caught_by(mode) for mode in ("simulate", "load")},
            "detection_seconds": {
                "median": statistics.median(detections) if detections else None,
                "max": max(detections) if detections else None,
            },
            "false_positives": self.false_positives,
            "errors": self.errors,
            "error": self.first_error(),
            "seconds": self.seconds,
            "replay_and_shrink": self.replay,
            "per_seed": self.seeds,
        }


def run_bot(bot: BotFile, args: argparse.Namespace, runtime_dir: Path | None = None) -> BotRun:
    """Run every seed of ``bot`` in a fresh process; never raises for what the bot does.

    ``runtime_dir`` holds another copy of the ``runtime`` package to measure (put first on the
    worker's ``PYTHONPATH``); None measures the installed one.
    """
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(bot.path),
        "--seeds",
        str(args.seeds),
        "--users",
        str(args.users),
        "--messages",
        str(args.messages),
        "--mode",
        args.mode,
        "--replays",
        str(args.replays),
    ]
    env = dict(os.environ)
    if runtime_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(runtime_dir), env.get("PYTHONPATH", "")) if part
        )
    began = time.perf_counter()
    error = None
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            cwd=REPO,
            env=env,
            check=False,
        )
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = _text(exc.stdout)
        stderr, code = _text(exc.stderr), None
        error = f"timed out after {args.timeout:g} s"
    seeds = [
        json.loads(line[len(_MARK) :]) for line in stdout.splitlines() if line.startswith(_MARK)
    ]
    if error is None and (code != 0 or len(seeds) < args.seeds):
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no output"
        error = f"process exited with {code} after {len(seeds)} seed(s): {tail}"
    extras = [
        json.loads(line[len(_EXTRA) :]) for line in stdout.splitlines() if line.startswith(_EXTRA)
    ]
    return BotRun(bot, seeds, time.perf_counter() - began, error, extras[0] if extras else None)


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


# -- the report ---------------------------------------------------------------------------------


def _seconds(values: list[float], pick: str) -> str:
    if not values:
        return "-"
    value = statistics.median(values) if pick == "median" else max(values)
    return f"{value:.3f}"


def table(runs: list[BotRun], mode: str) -> str:
    """Return the per-bot table as plain text."""
    header = [
        "bot",
        "expected",
        "kind",
        "caught",
        "rate",
        "simulate",
        "load",
        "median s",
        "max s",
        "false pos",
        "replays",
        "shrunk to",
        "errors",
    ]
    rows = []
    for run in runs:
        done = len(run.seeds)
        detections = run.detections()
        false_positives = run.false_positives
        rows.append(
            [
                run.bot.name,
                run.bot.expected,
                run.bot.kind,
                f"{run.caught}/{done}",
                f"{100 * run.caught / done:.0f}%" if done else "-",
                str(run.caught_by("simulate")) if mode in ("simulate", "both") else "-",
                str(run.caught_by("load")) if mode in ("load", "both") else "-",
                _seconds(detections, "median"),
                _seconds(detections, "max"),
                "-" if false_positives is None else str(false_positives),
                _replays(run.replay),
                _shrunk(run.replay),
                str(run.errors) if run.error is None else "ERROR",
            ]
        )
    left = {0, 1, 2}
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), "-" * len(line(header))]
    out += [line(row) for row in rows]
    problems = [(run.bot.name, run.first_error()) for run in runs if run.first_error()]
    if problems:
        out.append("")
        out += [f"ERROR {name}: {message}" for name, message in problems]
    return "\n".join(out)


def _replays(replay: dict[str, Any] | None) -> str:
    return "-" if replay is None else f"{replay['replayed']}/{replay['replays']}"


def _shrunk(replay: dict[str, Any] | None) -> str:
    if replay is None or replay["shrunk_users"] is None:
        return "-"
    return (
        f"{replay['shrunk_users']}u {replay['shrunk_steps']}s {replay['shrunk_switches']}sw "
        f"{replay['shrink_seconds']:.1f}s"
    )


def summary(runs: list[BotRun]) -> dict[str, Any]:
    """Return the counts the issue's targets are about."""
    racy = [run for run in runs if run.bot.expected == "racy"]
    clean = [run for run in runs if run.bot.expected == "clean"]
    return {
        "racy_bots": len(racy),
        "racy_at_target": sum(
            1 for run in racy if run.seeds and run.caught / len(run.seeds) >= TARGET_RATE
        ),
        "racy_never_caught": sum(1 for run in racy if run.seeds and run.caught == 0),
        "clean_bots": len(clean),
        "clean_without_false_positive": sum(
            1 for run in clean if run.seeds and not run.first_error() and run.false_positives == 0
        ),
        "false_positives": sum(run.false_positives or 0 for run in clean),
        "bots_with_errors": sum(1 for run in runs if run.first_error()),
        "undeclared": [run.bot.name for run in runs if run.bot.expected not in ("racy", "clean")],
    }


def extract_runtime(commit: str, into: Path) -> str:
    """Write the ``runtime`` package of git ``commit`` under ``into``; return the full hash.

    Read-only for the repository (``git rev-parse``, ``git archive``): the working tree and
    the index are left alone.

    Raises:
        ValueError: ``commit`` is not a commit of this repository.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha, "runtime"],
            capture_output=True,
            cwd=REPO,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ValueError(f"cannot read the runtime package of commit {commit!r}: {exc}") from exc
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return sha


def _machine() -> dict[str, Any]:
    # Run as a file, this script's folder (not the project root) is on sys.path.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from benchmarks._targets import machine_info  # noqa: PLC0415
    except ImportError as exc:
        return {"python": sys.version.split()[0], "machine_info": f"unavailable: {exc}"}
    return machine_info()


# -- the command ----------------------------------------------------------------------------------


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/catch_rate.py",
        description="Catch rate of check_isolation over the bots of benchmarks/catch_bots/.",
    )
    parser.add_argument("--seeds", type=_positive, default=None, help="seeds per bot (50)")
    parser.add_argument("--users", type=_positive, default=8, help="users per seed (8)")
    parser.add_argument("--messages", type=_positive, default=10, help="messages per user (10)")
    parser.add_argument(
        "--bots", default="*", metavar="PATTERN", help="bot names to run, e.g. 'pizza*,quiz*'"
    )
    parser.add_argument("--mode", choices=MODES, default="both", help="check mode (both)")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SEEDS} seeds per bot: CI's smoke run"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds for one bot's seeds (default: 60 + 10 per seed); then it is an error row",
    )
    parser.add_argument("--out", type=Path, default=None, help="results file (JSON)")
    parser.add_argument(
        "--runtime-from",
        metavar="COMMIT",
        default=None,
        help="measure the runtime package of this git commit instead of the working tree's "
        "(extracted with git archive into a temporary folder): a BEFORE baseline",
    )
    parser.add_argument(
        "--replays",
        type=int,
        default=None,
        help="replays of each bot's first simulation divergence, which is then shrunk "
        "(default: 10; 0 with --quick)",
    )
    parser.add_argument("--worker", metavar="BOT", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = _parser().parse_args(argv)
    if args.seeds is None:
        args.seeds = QUICK_SEEDS if args.quick else 50
    if args.replays is None:
        args.replays = 0 if args.quick else 10
    if args.timeout is None:
        args.timeout = 60.0 + 10.0 * args.seeds
    if args.worker is not None:
        _worker(args)
        return 0
    bots = discover(args.bots)
    if not bots:
        print(f"no bot in {BOTS} matches {args.bots!r}", file=sys.stderr)
        return 2
    out = args.out or RESULTS / ("catch_rate_quick.json" if args.quick else "catch_rate.json")
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    scratch = Path(tempfile.mkdtemp(prefix="catch-rate-runtime-"))
    try:
        runtime_dir = None
        source = "working tree"
        if args.runtime_from is not None:
            try:
                sha = extract_runtime(args.runtime_from, scratch)
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2
            runtime_dir, source = scratch, f"git {args.runtime_from} ({sha})"
        print(f"runtime: {source}", file=sys.stderr)
        began = time.perf_counter()
        runs = []
        for number, bot in enumerate(bots, start=1):
            run = run_bot(bot, args, runtime_dir)
            runs.append(run)
            state = run.first_error() or f"caught {run.caught}/{len(run.seeds)}"
            print(
                f"[{number}/{len(bots)}] {bot.name}: {state} ({run.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    totals = summary(runs)
    print(
        f"\n{args.seeds} seeds per bot, {args.users} users x {args.messages} messages, "
        f"mode {args.mode}, runtime: {source}; {command}\n"
    )
    print(table(runs, args.mode))
    print(
        f"\nracy bots caught in >= {TARGET_RATE:.0%} of seeds: {totals['racy_at_target']} of "
        f"{totals['racy_bots']} (never caught: {totals['racy_never_caught']}); clean bots "
        f"without false positive: {totals['clean_without_false_positive']} of "
        f"{totals['clean_bots']}; bots with errors: {totals['bots_with_errors']}; "
        f"{seconds:.0f} s in all"
    )
    report = {
        "benchmark": "catch_rate",
        "command": command,
        "settings": {
            "seeds": args.seeds,
            "users": args.users,
            "messages": args.messages,
            "mode": args.mode,
            "bots": args.bots,
            "timeout_s": args.timeout,
            "runtime": source,
        },
        "machine": _machine(),
        "seconds": seconds,
        "summary": totals,
        "bots": [run.to_json(args.seeds) for run in runs],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, allow_nan=False, default=str) + "\n")
    print(f"wrote {out}")
    failed = totals["bots_with_errors"] or totals["false_positives"] or totals["undeclared"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
