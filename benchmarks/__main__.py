"""Run the benchmarks: ``python -m benchmarks [--quick] [--only W1,W2] [--out PATH.json]``.

Exits 0 when every system gave every expected reply, 1 when any system produced wrong replies
or failed (the table says which), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path

from benchmarks._context import Context, Settings
from benchmarks._plot import plot
from benchmarks._report import table, write_json
from benchmarks._systems import SYSTEMS
from benchmarks._targets import machine_info, targets
from benchmarks._workloads import WORKLOADS
from runtime.log import configure_cli_logging

_RESULTS = Path(__file__).resolve().parent / "results"


def _names(value: str, known: Mapping[str, object], what: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the runtime against baselines running the same bot logic.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for CI's smoke run (about 2 minutes)"
    )
    parser.add_argument(
        "--only",
        type=lambda v: _names(v.upper(), WORKLOADS, "workload"),
        default=tuple(WORKLOADS),
        metavar="W1,W2,...",
        help="run only these workloads (default: all)",
    )
    parser.add_argument(
        "--systems",
        type=lambda v: _names(v.lower(), SYSTEMS, "system"),
        default=tuple(SYSTEMS),
        metavar="ours,direct,...",
        help=f"systems to run (default: all of {','.join(SYSTEMS)})",
    )
    parser.add_argument(
        "--senders", type=int, default=4, help="sender threads of closed-loop loads (default 4)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default: benchmarks/results/quick.json or full.json); "
        "the plot goes beside it as .png",
    )
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG plot")
    parser.add_argument(
        "--gc-threshold",
        type=_thresholds,
        default=None,
        metavar="G0,G1,G2",
        help="gc.set_threshold() for the whole run, every system alike (default: Python's, "
        "700,10,10); e.g. 50000,20,1000 as a host tuned for many sessions would",
    )
    return parser


def _thresholds(text: str) -> tuple[int, int, int]:
    try:
        g0, g1, g2 = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected three integers: G0,G1,G2") from None
    if min(g0, g1, g2) < 1:
        raise argparse.ArgumentTypeError("thresholds must be >= 1")
    return g0, g1, g2


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads, write the JSON and the plot, print the table."""
    args = _parser().parse_args(argv)
    if args.senders < 1:
        print("--senders must be >= 1", file=sys.stderr)
        return 2
    out: Path = args.out or _RESULTS / ("quick.json" if args.quick else "full.json")
    # The runtime's error logs (a store failing under load, say) go to stderr with the
    # progress lines, not into the table on stdout; the FAILED list says what failed.
    configure_cli_logging(logging.ERROR)
    if args.gc_threshold is not None:
        gc.set_threshold(*args.gc_threshold)
    settings = Settings(quick=args.quick, systems=args.systems, senders=args.senders)
    ctx = Context(settings)
    meta = machine_info()
    ctx.log(
        f"benchmarks ({'quick' if args.quick else 'full'}): {', '.join(args.only)} on "
        f"{', '.join(args.systems)}; load average {meta.get('load_average')}; "
        f"gc thresholds {gc.get_threshold()}"
    )
    workloads: dict[str, dict[str, object]] = {}
    for name in WORKLOADS:  # in order: W2 uses W1's maxima
        if name not in args.only:
            continue
        try:
            workloads[name] = WORKLOADS[name](ctx)
        except Exception as exc:  # a harness bug: report it, run the rest
            traceback.print_exc()
            ctx.failed.append(f"{name}: harness error {type(exc).__name__}: {exc}")
            workloads[name] = {"error": f"{type(exc).__name__}: {exc}"}
    report = {
        "meta": meta,
        "settings": {
            "quick": args.quick,
            "workloads": list(args.only),
            "systems": list(args.systems),
            "senders": args.senders,
            "gc_threshold": list(gc.get_threshold()),
            "command": " ".join(["python -m benchmarks", *(argv or sys.argv[1:])]),
        },
        "workloads": workloads,
        "targets": targets(workloads),
        "failures": ctx.failed,
        "elapsed_s": time.perf_counter() - ctx.started,
    }
    write_json(report, out)
    why_no_plot = None if args.no_plot else plot(report, out.with_suffix(".png"))
    print(table(report))
    print(f"\nResults: {out}")
    if not args.no_plot:
        print(
            f"Plot: {out.with_suffix('.png')}" if why_no_plot is None else f"No plot: {why_no_plot}"
        )
    return 1 if ctx.failed else 0


if __name__ == "__main__":
    sys.exit(main())
