"""Measure how often, and how fast, each mode catches each racy bot (not a test module).

Run from the project root::

    python tests/testing/catch_rate.py --seeds 50

For every racy bot in ``racy_bots/`` and both clean examples, and for each mode, it runs
``check_isolation`` with seeds 0..N-1 (4 users, 6 steps each) and prints a Markdown table: the
share of seeds that caught a divergence, the first seed that did, and the wall time until then.
For the clean examples every catch is a false positive.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from runtime.log import configure_cli_logging
from runtime.testing import check_isolation

HERE = Path(__file__).resolve().parent
BOTS = [
    *sorted(str(path.relative_to(Path.cwd())) for path in (HERE / "racy_bots").glob("*.py")),
    "runtime/examples/greetings.py",
    "runtime/examples/notebook.py",
]


def main() -> None:
    """Print the catch-rate table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--messages", type=int, default=6)
    args = parser.parse_args()
    configure_cli_logging(logging.CRITICAL)  # racy bodies raise on purpose; keep the table
    print(f"{args.seeds} seeds per row, {args.users} users x {args.messages} steps per seed\n")
    print("| bot | mode | caught | first seed | time to first | per run |")
    print("|---|---|---|---|---|---|")
    for bot in BOTS:
        for mode in ("simulate", "load"):
            began = time.perf_counter()
            caught = 0
            first: tuple[int, float] | None = None
            for seed in range(args.seeds):
                report = check_isolation(
                    bot, seed=seed, users=args.users, messages=args.messages, mode=mode
                )
                if not report.isolated:
                    caught += 1
                    if first is None:
                        first = (seed, time.perf_counter() - began)
            per_run = (time.perf_counter() - began) / args.seeds
            seed_text = "-" if first is None else str(first[0])
            time_text = "-" if first is None else f"{first[1] * 1000:.0f} ms"
            print(
                f"| {Path(bot).stem} | {mode} | {caught}/{args.seeds} "
                f"({100 * caught / args.seeds:.0f}%) | {seed_text} | {time_text} "
                f"| {per_run * 1000:.0f} ms |"
            )


if __name__ == "__main__":
    main()
