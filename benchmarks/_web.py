"""W8 web: the gateway under 1,000 WebSocket clients, server and clients on this machine.

The server is ``python -m runtime serve`` on the greetings bot in its own process (memory
store, a per-connection rate high enough never to throttle); the clients are ``loadtest``'s
(``runtime.testing._loadtest``), run from this process (or its worker processes) exactly as
``python -m runtime loadtest`` runs them. Two runs, each on a fresh server:

- *full load*: 1,000 clients x 20 messages (quick: 200 x 10), closed loop per client;
  messages/s over the message phase, latency percentiles, and the ratio to ours' in-process
  W1 events/s at 1k sessions in the same run (the gateway's share of the runtime's speed);
- *half load*: the same clients capped at half the full run's messages/s (``--rate-limit``),
  for the latency a server sees when it is not saturated.

Every reply is checked: the messages are generated from the greetings bot (seed 0) and each
client's replies are compared with its sequence run alone in-process (``--bot``); a lost,
crossed or unsent message, an error frame or a differing client makes the run FAILED.

The server's CPU time over the message phase is read from ``/proc/PID/stat`` (Linux), beside
the clients' own CPU time, so the table shows where a message's CPU goes.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._context import Context, Entry, verdict
from benchmarks._scripts import Check
from benchmarks._targets import ratio

__all__ = ["GREETINGS", "serve_command", "w8_web"]

_ROOT = Path(__file__).resolve().parent.parent
GREETINGS = "runtime/examples/greetings.py"
_FULL = (1_000, 20)
_QUICK = (200, 10)
_SERVER_RATE = "1000000"  # messages/s per connection: never throttles
_PROCESSES = 1  # client processes (measured: a second one gives nothing, see the README)
_SEED = 0
_SHOWN = 3


def serve_command(data: str) -> list[str]:
    """Return the server's command line, its sessions in memory and its key in ``data``."""
    return [
        sys.executable, "-m", "runtime", "serve", GREETINGS, "--port", "0",
        "--store", "memory", "--data", data, "--rate", _SERVER_RATE,
    ]  # fmt: skip


class _Server:
    """A ``serve`` process: its URL (from its first line) and its CPU time."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def cpu_seconds(self) -> float | None:
        """Return the process's user + system CPU time so far (None where /proc is not)."""
        try:
            with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime


@contextmanager
def _serving() -> Iterator[_Server]:
    with tempfile.TemporaryDirectory(prefix="w8-") as data:
        log = Path(data) / "serve.log"  # a file, not a pipe nobody reads while it runs
        with log.open("w") as errors:
            process = subprocess.Popen(
                serve_command(data), stdout=subprocess.PIPE, stderr=errors, text=True, cwd=_ROOT
            )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until it serves (or dies: "")
            if " at http://" not in line:
                process.wait(30)
                raise RuntimeError(f"serve did not start: {line}{log.read_text()[-2000:]}")
            yield _Server(process, line.split(" at ", 1)[1].split("/ ", 1)[0])
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # drains, then exits 0
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _run(ctx: Context, where: str, clients: int, messages: int, rate_limit: float | None) -> Entry:
    """One loadtest against a fresh server; the report's numbers plus the CPU split."""
    from runtime.testing._loadtest import run_loadtest  # noqa: PLC0415 (W8 only)

    marks: dict[str, float | None] = {}
    with _serving() as server:

        def on_phase(phase: str) -> None:
            marks[phase] = server.cpu_seconds()

        report = run_loadtest(
            server.url,
            clients=clients,
            messages=messages,
            bot=GREETINGS,
            seed=_SEED,
            processes=_PROCESSES,
            rate_limit=rate_limit,
            on_phase=on_phase,
        )
    entry: Entry = report.to_json()
    began, ended = marks.get("messages"), marks.get("done")
    server_cpu = None if began is None or ended is None else ended - began
    answered = max(1, report.answered)
    entry.update(
        server_cpu_s=server_cpu,
        server_cpu_us_per_message=None if server_cpu is None else server_cpu / answered * 1e6,
        client_cpu_us_per_message=report.client_cpu_seconds / answered * 1e6,
        server_cores=None
        if server_cpu is None or not report.seconds
        else server_cpu / report.seconds,
        client_cores=report.client_cpu_seconds / report.seconds if report.seconds else None,
        isolation_checked=report.isolation.checked if report.isolation else 0,
        divergences=len(report.isolation.divergences) if report.isolation else 0,
    )
    wrong = report.lost + report.crossed + report.unsent + sum(report.errors.values())
    wrong += entry["divergences"]
    examples = [f"client {n}: {why}" for n, why in report.failures]
    if report.isolation is not None:
        examples += [d.format() for d in report.isolation.divergences[:_SHOWN]]
    if report.errors:
        examples.append(f"error frames: {dict(report.errors)}")
    check = Check(report.clients * report.messages, wrong, tuple(examples[:_SHOWN]))
    counts = {key: entry[key] for key in ("lost", "crossed", "unsent", "errors", "divergences")}
    entry = verdict(ctx, where, entry, check, None)
    entry.update(counts)  # a FAILED entry keeps what went wrong (the targets count it)
    if entry["status"] == "ok":
        lat = entry["latency_ms"]
        ctx.log(
            f"  {where}: {entry['messages_per_s']:,.0f} messages/s, p50 {lat['p50']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms; CPU per message: server "
            f"{_us(entry['server_cpu_us_per_message'])}, clients "
            f"{_us(entry['client_cpu_us_per_message'])}"
        )
    return entry


def _us(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} us"


def w8_web(ctx: Context) -> Entry:
    """W8: messages/s and latency through the gateway, and half-load latency."""
    if "ours" not in ctx.settings.systems:
        return {
            "status": "skipped",
            "reason": "W8 measures ours' gateway; --systems leaves out ours",
        }
    from benchmarks._workloads import ours_w1_rate  # noqa: PLC0415 (it imports this module)

    clients, messages = _QUICK if ctx.settings.quick else _FULL
    ctx.log(f"W8 web: serve + loadtest, {clients:,} clients x {messages} messages")
    full = _run(ctx, "W8 full load", clients, messages, None)
    half: Entry = {"status": "skipped", "reason": "the full-load run failed"}
    if full["status"] == "ok":
        cap = full["messages_per_s"] / 2
        ctx.log(f"W8 web: the same at half that load, {cap:,.0f} messages/s")
        half = _run(ctx, "W8 half load", clients, messages, cap)
    w1 = ours_w1_rate(ctx)
    out: dict[str, Any] = {
        "clients": clients,
        "messages_per_client": messages,
        "client_processes": _PROCESSES,
        "server_command": "python " + shlex.join(serve_command("DIR")[1:]),
        "full": full,
        "half": half,
        "ours_w1_events_per_s_1k": w1,
        "web_vs_w1": ratio(full.get("messages_per_s") if full["status"] == "ok" else None, w1),
    }
    return out
