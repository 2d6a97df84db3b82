"""The PNG plot: W1 events/s by sessions, W2 latency percentiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot"]

Entry = dict[str, Any]
_ORDER = ("ours", "direct", "pykka", "asyncio", "threadpool", "handoff")


def _order(name: str) -> int:
    return _ORDER.index(name) if name in _ORDER else len(_ORDER)


def plot(report: Entry, path: Path) -> str | None:
    """Draw W1 (events/s by sessions) and W2 (latency percentiles) into a PNG.

    Returns:
        Why there is no plot, or None if ``path`` was written.
    """
    w1 = report["workloads"].get("W1")
    w2 = report["workloads"].get("W2")
    if not w1 and not (w2 and "results" in w2):
        return "nothing to plot (W1 and W2 not run)"
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    left, right = axes
    if w1 and "results" in w1:
        systems = sorted({s for row in w1["results"].values() for s in row}, key=_order)
        for name in systems:
            points = [
                (int(n), row[name]["events_per_s"])
                for n, row in w1["results"].items()
                if row.get(name, {}).get("status") == "ok"
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                left.plot(xs, ys, marker="o", label=name)
        left.set(
            xscale="log", yscale="log", xlabel="sessions", ylabel="events/s", title="W1 throughput"
        )
        left.legend()
        left.grid(True, which="both", alpha=0.3)
    if w2 and "results" in w2:
        ok = {n: e for n, e in w2["results"].items() if e.get("status") == "ok"}
        names = sorted(ok, key=_order)
        keys = [("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")]
        width = 0.8 / len(keys)
        for i, (key, label) in enumerate(keys):
            right.bar(
                [x + i * width for x in range(len(names))],
                [ok[n][key] for n in names],
                width,
                label=label,
            )
        right.set_xticks([x + width for x in range(len(names))], names)
        right.set(
            yscale="log", ylabel="ms", title=f"W2 latency at {w2['offered_per_s']:,.0f} events/s"
        )
        right.legend()
        right.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
