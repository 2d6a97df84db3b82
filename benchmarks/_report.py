"""The readable table of a run, and its JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._targets import ratio

__all__ = ["table", "write_json"]

Entry = dict[str, Any]
_GIB = 2**30
_BASELINES = ("direct", "pykka", "asyncio", "threadpool", "handoff")


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _cell(entry: Entry | None, key: str, spec: str = ",.0f") -> str:
    if not entry:
        return "-"
    if entry.get("status") == "FAILED":
        return "FAILED"
    if entry.get("status") == "skipped":
        return "skip"
    return _fmt(entry.get(key), spec)


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    out = [line, "-" * len(line)]
    for row in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return out


def _value(entry: Entry | None, key: str) -> float | None:
    if not entry or entry.get("status") != "ok":
        return None
    value = entry.get(key)
    return float(value) if isinstance(value, int | float) else None


def _ratios(results: Entry, key: str, systems: list[str]) -> list[str]:
    ours = _value(results.get("ours"), key)
    return [_fmt(ratio(ours, _value(results.get(name), key)), ".2f") for name in systems]


def _table_w1(w1: Entry) -> list[str]:
    results: Entry = w1["results"]
    systems = sorted({s for row in results.values() for s in row}, key=_order)
    others = [s for s in _BASELINES if s in systems]
    header = ["sessions", *systems, *[f"ours/{s}" for s in others]]
    rows = [
        [
            n,
            *[_cell(row.get(s), "events_per_s") for s in systems],
            *_ratios(row, "events_per_s", others),
        ]
        for n, row in results.items()
    ]
    return [
        f"W1 throughput: events/s, closed loop, {w1['senders']} sender threads "
        "(ours/x > 1: ours is faster)",
        *_grid(header, rows),
    ]


def _table_w2(w2: Entry) -> list[str]:
    if "results" not in w2:
        return [f"W2 latency: {w2.get('reason', 'not run')}"]
    results: Entry = w2["results"]
    keys = [
        ("p50_ms", "p50 ms"),
        ("p99_ms", "p99 ms"),
        ("p999_ms", "p99.9 ms"),
        ("max_ms", "max ms"),
        ("service_p50_ms", "svc p50"),
        ("service_p99_ms", "svc p99"),
    ]
    header = ["system", *[label for _, label in keys], "p99/p50", "ours p99 / its p99"]
    ours_p99 = _value(results.get("ours"), "p99_ms")
    rows = []
    for name in sorted(results, key=_order):
        entry = results[name]
        spread = ratio(_value(entry, "p99_ms"), _value(entry, "p50_ms"))
        rows.append(
            [
                name,
                *[_cell(entry, key, ".2f") for key, _ in keys],
                _fmt(spread, ".1f"),
                _fmt(ratio(ours_p99, _value(entry, "p99_ms")), ".2f"),
            ]
        )
    skipped = [f"  {n}: {e['reason']}" for n, e in results.items() if e.get("status") == "skipped"]
    return [
        f"W2 latency: open loop at {w2['offered_per_s']:,.0f} events/s (half ours' W1 max) "
        f"over {w2['sessions']} sessions for {w2['seconds']:.0f} s; latency from the scheduled "
        "send (svc: from the actual send)",
        *_grid(header, rows),
        *skipped,
    ]


def _table_w3(w3: Entry) -> list[str]:
    live: Entry = w3.get("live", {})
    rows = []
    ours = _value(live.get("ours"), "bytes_per_session")
    for name in sorted(live, key=_order):
        entry = live[name]
        rows.append(
            [
                name,
                _cell(entry, "sessions", ","),
                _cell(entry, "bytes_per_session"),
                _fmt(ratio(ours, _value(entry, "bytes_per_session")), ".2f"),
            ]
        )
    lines = [
        "W3 memory: RSS per live session, each system in a fresh process "
        "(ours/x < 1: ours is smaller)",
        *_grid(["system", "sessions", "bytes/session", "ours/x"], rows),
    ]
    passive: Entry = w3.get("passivated", {})
    if passive.get("status") == "ok":
        stats = passive["stats"]
        lines.append(
            f"passivated: {_fmt(passive.get('bytes_per_passivated_session'))} bytes per passivated "
            f"session ({stats.get('sessions_passivated', 0):,} passivated, "
            f"{stats['sessions_live']:,} live)"
        )
    elif passive:
        lines.append(f"passivated: {passive.get('status')}: {passive.get('reason')}")
    million: Entry = w3.get("million", {})
    if million.get("status") == "ok":
        stats = million.get("stats") or {}
        rss, peak = million["rss_after"] / _GIB, million["peak_rss"] / _GIB
        lines.append(
            f"{million['sessions']:,} sessions in one process: RSS {rss:.2f} GiB (peak {peak:.2f}"
            f" GiB; {stats.get('sessions_live', '?'):,} live,"
            f" {stats.get('sessions_passivated', 0):,} passivated;"
            f" opened in {million['seconds']:.1f} s)"
            + (
                ""
                if million.get("measured_at_1m")
                else f"; extrapolated to 1M: {million['estimated_rss_at_1m'] / _GIB:.2f} GiB"
            )
            + (f" [{million['note']}]" if million.get("note") else "")
        )
    elif million:
        lines.append(f"million: {million.get('status')}: {million.get('reason')}")
    return lines


def _table_w4(w4: Entry) -> list[str]:
    results: Entry = w4["results"]
    header = ["system", "fast ev/s alone", "fast ev/s w/ 5% blocking", "kept", "slow share"]
    rows = [
        [
            name,
            _cell(e, "fast_per_s_alone"),
            _cell(e, "fast_per_s_with_blocking"),
            _cell(e, "ratio", ".2f"),
            _cell(e, "blocking_share_actual", ".1%"),
        ]
        for name, e in sorted(results.items(), key=lambda item: _order(item[0]))
    ]
    return [
        f"W4 blocking: {w4['sessions']} users per phase, per-user closed loop; slow messages "
        f"block {w4['block_seconds'] * 1000:.0f} ms (kept = with/alone, target >= 0.7)",
        *_grid(header, rows),
    ]


def _table_w5(w5: Entry) -> list[str]:
    results: Entry = w5["results"]
    keys = ["activation_us", "live_event_us", "passivation_us", "rehydration_us"]
    rows = [
        [
            name,
            *[_cell(results[name], k, ".1f") for k in keys],
            _cell(results[name], "activation_switches", ".2f"),
            _cell(results[name], "activation_system_us", ".1f"),
        ]
        for name in sorted(results, key=_order)
    ]
    if "direct" in results:
        rows.append(
            [
                "ours/direct",
                *_ratios(results, keys[0], ["direct"]),
                *_ratios(results, keys[1], ["direct"]),
                "-",
                "-",
                "-",
                "-",
            ]
        )
    notes = [
        f"  {n}: {e['rehydration']}"
        for n, e in results.items()
        if isinstance(e.get("rehydration"), str)
    ]
    return [
        f"W5 activation: wall time per session over {w5['sessions']:,} sessions, "
        f"{w5['senders']} senders (us)",
        *_grid(
            ["system", "activate", "live event", "passivate", "rehydrate", "switches", "sys us"],
            rows,
        ),
        "  switches, sys us: voluntary context switches and system time per session while "
        "activating (the whole process's)",
        *notes,
    ]


_W6_SYSTEMS = ("ours+memory", "ours+sqlite", "ours+redis")


def _table_w6(w6: Entry) -> list[str]:
    if "results" not in w6:
        return [f"W6 durability: SKIPPED: {w6.get('reason', 'not run')}"]
    stores: Entry = w6["stores"]
    redis = stores["redis"] or f"SKIPPED ({stores['redis_skipped']})"
    lines = [
        f"W6 durability: ours on each store; SQLite file in {stores['sqlite_folder']} "
        f"({stores['sqlite_file_system']}; {stores['sqlite_settings']}); Redis: {redis}",
        "",
        f"events/s, closed loop, {w6['senders']} sender threads; x/memory > 1: faster than the "
        "in-memory store; w/batch: turns per group-commit transaction (sqlite, redis)",
    ]
    durable = _W6_SYSTEMS[1:]
    header = [
        "sessions",
        *_W6_SYSTEMS,
        *[f"{s.split('+')[1]}/memory" for s in durable],
        *[f"{s.split('+')[1]} w/batch" for s in durable],
    ]
    rows = [
        [
            f"{int(n):,}",
            *[_cell(row.get(s), "events_per_s") for s in _W6_SYSTEMS],
            *[
                _fmt(
                    ratio(
                        _value(row.get(s), "events_per_s"),
                        _value(row.get(_W6_SYSTEMS[0]), "events_per_s"),
                    ),
                    ".2f",
                )
                for s in durable
            ],
            *[_cell(row.get(s), "writes_per_batch", ".1f") for s in durable],
        ]
        for n, row in w6["results"].items()
    ]
    lines += _grid(header, rows)
    part: Entry = w6["latency"]
    if "results" in part:
        keys = [
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("p999_ms", "p99.9 ms"),
            ("max_ms", "max ms"),
            ("service_p50_ms", "svc p50"),
            ("service_p99_ms", "svc p99"),
        ]
        results: Entry = part["results"]
        own: Entry = part.get("at_half_own_max") or {}
        offered = _fmt(part["offered_per_s"])
        rows = [
            [s, offered, *[_cell(results.get(s), k, ".2f") for k, _ in keys]] for s in _W6_SYSTEMS
        ]
        rows += [
            [
                f"{s} @own",
                _fmt(own[s].get("offered_per_s")),
                *[_cell(own[s], k, ".2f") for k, _ in keys],
            ]
            for s in _W6_SYSTEMS
            if s in own
        ]
        over = [
            f"  {s}: the offered load is above its closed-loop max "
            f"({results[s]['closed_loop_max_per_s']:,.0f}/s): its queue grew in the window"
            for s in _W6_SYSTEMS
            if (results.get(s) or {}).get("over_closed_loop_max")
        ]
        lines += [
            "",
            f"latency: open loop at {part['offered_per_s']:,.0f} events/s (half ours+memory's "
            f"max above) over {part['sessions']:,} sessions for {part['seconds']:.0f} s; "
            "@own: at half that store's own max (not a target)",
            *_grid(["system", "offered/s", *[label for _, label in keys]], rows),
            *over,
        ]
    else:
        lines += ["", f"latency: SKIPPED: {part.get('reason')}"]
    restart: Entry = w6["restart"]
    keys = [
        ("store_seconds", "store all s", ".1f"),
        ("start_ms", "start ms", ".1f"),
        ("first_reply_ms", "1st reply ms", ".1f"),
        ("all_replied_s", "all replied s", ".2f"),
        ("rehydration_us", "us/session", ".0f"),
    ]
    results = restart["results"]
    lines += [
        "",
        f"restart: {restart['sessions']:,} sessions stored (one message each), the runtime "
        "stopped; then times from opening the store (start: Runtime(bot, store=...).start() "
        "returned) to the first reply of a stored session, and to every stored session's reply",
        *_grid(
            ["system", *[label for _, label, _ in keys]],
            [[s, *[_cell(results.get(s), k, f) for k, _, f in keys]] for s in durable],
        ),
    ]
    # One line per system and reason (no Redis at all skips every part alike).
    skipped: dict[tuple[str, str], list[str]] = {}
    for what, group in (
        *((f"{int(n):,} sessions", row) for n, row in w6["results"].items()),
        ("latency", part.get("results") or {}),
        ("restart", results),
    ):
        for name, entry in group.items():
            if entry.get("status") == "skipped":
                skipped.setdefault((name, entry["reason"]), []).append(what)
    lines += [
        f"  SKIPPED {name} ({', '.join(parts)}): {reason}"
        for (name, reason), parts in skipped.items()
    ]
    return lines


def _table_w8(w8: Entry) -> list[str]:
    if "full" not in w8:
        return [f"W8 web: SKIPPED: {w8.get('reason', 'not run')}"]
    header = [
        "run",
        "msg/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "lost",
        "crossed",
        "srv us/msg",
        "cli us/msg",
        "srv cores",
    ]
    rows = []
    for name in ("full", "half"):
        entry: Entry = w8[name]
        latency: Entry = entry.get("latency_ms") or {}
        rows.append(
            [
                name if name == "full" else f"half ({_fmt(entry.get('rate_limit'))}/s cap)",
                _cell(entry, "messages_per_s"),
                *[_fmt(latency.get(key), ".1f") for key in ("p50", "p90", "p99", "max")],
                _fmt(entry.get("lost"), ","),
                _fmt(entry.get("crossed"), ","),
                _cell(entry, "server_cpu_us_per_message"),
                _cell(entry, "client_cpu_us_per_message"),
                _cell(entry, "server_cores", ".2f"),
            ]
        )
    full: Entry = w8["full"]
    return [
        f"W8 web: `{w8['server_command']}` and {w8['clients']:,} WebSocket clients x "
        f"{w8['messages_per_client']} messages in {w8['client_processes']} client process(es), "
        "replies checked against each client alone",
        *_grid(header, rows),
        f"web/W1: {_fmt(w8.get('web_vs_w1'), '.2f')} (full load's msg/s over ours' in-process "
        f"W1 events/s at 1k sessions, {_fmt(w8.get('ours_w1_events_per_s_1k'))}); connect: "
        f"{_fmt(full.get('connect_s'), '.2f')} s for all",
    ]


_TABLES: dict[str, Callable[[Entry], list[str]]] = {
    "W1": _table_w1,
    "W2": _table_w2,
    "W3": _table_w3,
    "W4": _table_w4,
    "W5": _table_w5,
    "W6": _table_w6,
    "W8": _table_w8,
}


def _order(name: str) -> int:
    order = ("ours", *_BASELINES)
    return order.index(name) if name in order else len(order)


def table(report: Entry) -> str:
    """Return the readable summary of a report."""
    meta = report["meta"]
    lines = [
        f"benchmarks ({'quick' if report['settings']['quick'] else 'full'}) on "
        f"{meta['cores']} cores, Python {meta['python']}, pykka {meta['pykka_version']}, "
        f"load average {_fmt((meta.get('load_average') or [None])[0], '.2f')} at start, "
        f"{meta['date']}",
        "",
    ]
    for name, workload in report["workloads"].items():
        if "error" in workload:
            lines += [f"{name}: harness error: {workload['error']}", ""]
            continue
        lines += [*_TABLES[name](workload), ""]
    lines.append("Targets (issues #4 and #12; W6: durable stores)")
    rows = []
    for t in report["targets"]:
        margin = t["margin"]
        by = "" if margin is None else f"{margin:+.0%}"
        rows.append(
            [
                t["target"],
                f"{_fmt(t['value'], '.2f')} {t['unit']}",
                f"{t['op']} {t['goal']:g} {t['unit']}",
                t["status"],
                by,
                t["note"] if t["note"] != "est." else "extrapolated from the quick run",
            ]
        )
    lines += _grid(["target", "value", "goal", "status", "by", "note"], rows)
    failures = report["failures"]
    lines += ["", f"FAILED ({len(failures)}):" if failures else "All replies correct."]
    lines += [f"  {f}" for f in failures]
    lines.append(f"Took {report['elapsed_s']:.0f} s.")
    return "\n".join(lines)


def write_json(report: Entry, path: Path) -> None:
    """Write ``report`` to ``path`` (directories created as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(report, indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"
    )
