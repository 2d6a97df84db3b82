"""The load test's report: counts, throughput, latency percentiles, and the table."""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.testing._loadtest_worker import WorkerResult
from runtime.testing._report import Divergence

__all__ = ["IsolationCheck", "LoadTestReport", "Percentiles", "merge_results", "percentiles"]

_SHOWN_FAILURES = 3


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in milliseconds (nearest rank)."""

    p50: float
    p90: float
    p99: float
    max: float


def percentiles(seconds: Sequence[float]) -> Percentiles | None:
    """Return the percentiles of ``seconds`` in ms, or None when there are none."""
    if not seconds:
        return None
    ordered = sorted(seconds)

    def rank(share: float) -> float:
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)] * 1000

    return Percentiles(rank(0.5), rank(0.9), rank(0.99), ordered[-1] * 1000)


@dataclass(frozen=True)
class IsolationCheck:
    """Each client's replies compared with its sequence run alone.

    Attributes:
        checked: clients compared (those whose every message was settled).
        skipped: clients not compared: they lost messages or could not connect.
        divergences: the first differing step of each client that differs (step 0 is the
            session's opening, step k the k-th message).
        seconds: wall time of the solo runs.
    """

    checked: int
    skipped: int
    divergences: tuple[Divergence, ...]
    seconds: float

    @property
    def isolated(self) -> bool:
        """True when every compared client saw what it sees alone."""
        return not self.divergences


@dataclass(frozen=True)
class LoadTestReport:
    """What a load test measured (see ``run_loadtest``).

    Attributes:
        url: the ``/ws`` endpoint.
        clients: clients started.
        messages: messages per client.
        processes: client processes.
        rate_limit: the cap on messages/s of all clients together, or None.
        bot: the bot the messages came from, or None (the fixed cycle).
        seed: the messages' seed.
        connected: clients that got their session.
        connect_seconds: wall time of the connect phase (the ramp included).
        connect: per-client connect time (TCP connect to ``session`` frame) percentiles.
        sent: messages sent (a throttled resend is not another message).
        answered: messages answered by their ``replies`` frame.
        errors: error frames by code, ``rate_limited`` apart.
        throttled: ``rate_limited`` error frames (each one waited out and resent).
        lost: messages sent and neither answered nor refused before the client gave up.
        crossed: ``replies`` or ``error`` frames naming an id the client was not waiting for.
        unsent: messages never sent, because their client could not connect or stopped.
        unsolicited: ``replies`` frames with a null ``in_reply_to`` (session openings).
        seconds: wall time of the message phase (the go to the last client done).
        latency: send-to-replies percentiles (from the first send, throttled waits included).
        client_cpu_seconds: CPU time of the client processes over the message phase.
        failures: a few clients' reasons for stopping early, as ``(client, reason)``.
        elapsed: wall time of the whole run, connecting and closing included.
        isolation: the isolation check, when a bot was given.
    """

    url: str
    clients: int
    messages: int
    processes: int
    rate_limit: float | None
    bot: str | None
    seed: int
    connected: int
    connect_seconds: float
    connect: Percentiles | None
    sent: int
    answered: int
    errors: Mapping[str, int]
    throttled: int
    lost: int
    crossed: int
    unsent: int
    unsolicited: int
    seconds: float
    latency: Percentiles | None
    client_cpu_seconds: float
    failures: tuple[tuple[int, str], ...] = ()
    elapsed: float = 0.0
    isolation: IsolationCheck | None = field(default=None)

    @property
    def messages_per_second(self) -> float:
        """Answered messages per second of the message phase."""
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every message was sent and none was lost or crossed (nor diverged)."""
        isolated = self.isolation is None or self.isolation.isolated
        return not (self.lost or self.crossed or self.unsent) and isolated

    def command(self) -> str:
        """Return the ``python -m runtime loadtest`` command that runs this test again."""
        words = ["python", "-m", "runtime", "loadtest", self.url]
        words += ["--clients", str(self.clients), "--messages", str(self.messages)]
        if self.bot is not None:
            words += ["--bot", self.bot, "--seed", str(self.seed)]
        if self.processes != 1:
            words += ["--processes", str(self.processes)]
        if self.rate_limit is not None:
            words += ["--rate-limit", f"{self.rate_limit:g}"]
        return shlex.join(words)

    def rows(self) -> list[tuple[str, str]]:
        """Return the table's rows: (what, value)."""
        total = self.clients * self.messages
        errors = sum(self.errors.values())
        by_code = ", ".join(f"{code} {count:,}" for code, count in sorted(self.errors.items()))
        connect = (
            ""
            if self.connect is None
            else f" (each p50 {self.connect.p50:.1f} ms, max {self.connect.max:.0f} ms)"
        )
        rows = [
            ("clients", f"{self.clients:,} in {self.processes} process(es)"),
            ("connected", f"{self.connected:,} in {self.connect_seconds:.2f} s{connect}"),
            ("messages sent", f"{self.sent:,} of {total:,}"),
            ("answered", f"{self.answered:,}"),
            ("errors", f"{errors:,}" + (f" ({by_code})" if by_code else "")),
            ("throttled", f"{self.throttled:,} (rate_limited, resent)"),
            ("lost", f"{self.lost:,}"),
            ("crossed", f"{self.crossed:,}"),
            (
                "messages/s",
                f"{self.messages_per_second:,.0f} (answered over {self.seconds:.2f} s)"
                + ("" if self.rate_limit is None else f", capped at {self.rate_limit:,.0f}/s"),
            ),
        ]
        if self.latency is None:
            rows.append(("latency ms", "-"))
        else:
            lat = self.latency
            rows.append(
                (
                    "latency ms",
                    f"p50 {lat.p50:.1f}  p90 {lat.p90:.1f}  p99 {lat.p99:.1f}  max {lat.max:.1f}",
                )
            )
        per_message = self.client_cpu_seconds / self.answered * 1e6 if self.answered else 0.0
        rows.append(
            ("client CPU", f"{self.client_cpu_seconds:.2f} s ({per_message:.0f} us per message)")
        )
        if self.unsent:
            rows.append(("unsent", f"{self.unsent:,} (their client could not connect or stopped)"))
        return rows

    def format(self) -> str:
        """Return the report: what ran, the table, the verdict and what went wrong."""
        source = "the fixed cycle" if self.bot is None else f"{self.bot}, seed {self.seed}"
        lines = [
            f"loadtest {self.url}: {self.clients:,} clients x {self.messages:,} messages "
            f"({source})",
            "",
        ]
        width = max(len(name) for name, _ in self.rows())
        lines += [f"{name.ljust(width)}  {value}" for name, value in self.rows()]
        lines += [f"  client {number}: {reason}" for number, reason in self.failures]
        if self.isolation is not None:
            lines += ["", *self._isolation_lines(self.isolation)]
        problems = [
            f"{count:,} {what}"
            for count, what in (
                (self.lost, "lost"),
                (self.crossed, "crossed"),
                (self.unsent, "unsent"),
                (len(self.isolation.divergences) if self.isolation else 0, "not isolated"),
            )
            if count
        ]
        lines += [
            "",
            "FAILED: " + ", ".join(problems) if problems else "OK: nothing lost or crossed",
        ]
        return "\n".join(lines)

    def _isolation_lines(self, check: IsolationCheck) -> list[str]:
        skipped = f"; {check.skipped:,} not checked (incomplete)" if check.skipped else ""
        head = (
            f"isolation: {check.checked:,} clients checked against their sequence run alone "
            f"in {check.seconds:.1f} s{skipped}"
        )
        if check.isolated:
            return [head, "isolated: every client saw what it sees alone"]
        count = len(check.divergences)
        lines = [head, f"NOT ISOLATED: {count:,} client{'s' if count != 1 else ''} differ"]
        for divergence in check.divergences:
            lines += ["", divergence.format()]
        return lines

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (for benchmarks and scripts)."""

        def ms(value: Percentiles | None) -> dict[str, float] | None:
            if value is None:
                return None
            return {"p50": value.p50, "p90": value.p90, "p99": value.p99, "max": value.max}

        return {
            "url": self.url,
            "clients": self.clients,
            "messages_per_client": self.messages,
            "processes": self.processes,
            "rate_limit": self.rate_limit,
            "bot": self.bot,
            "seed": self.seed,
            "connected": self.connected,
            "connect_s": self.connect_seconds,
            "connect_ms": ms(self.connect),
            "sent": self.sent,
            "answered": self.answered,
            "errors": dict(self.errors),
            "throttled": self.throttled,
            "lost": self.lost,
            "crossed": self.crossed,
            "unsent": self.unsent,
            "unsolicited": self.unsolicited,
            "message_phase_s": self.seconds,
            "messages_per_s": self.messages_per_second,
            "latency_ms": ms(self.latency),
            "client_cpu_s": self.client_cpu_seconds,
            "isolated": None if self.isolation is None else self.isolation.isolated,
            "ok": self.ok,
            "elapsed_s": self.elapsed,
            "command": self.command(),
        }


def merge_results(
    results: Sequence[WorkerResult],
    *,
    url: str,
    clients: int,
    messages: int,
    processes: int,
    rate_limit: float | None,
    bot: str | None,
    seed: int,
    elapsed: float,
) -> LoadTestReport:
    """Add up the workers' results into one report."""
    everyone = [client for result in results for client in result.clients]
    latencies = [value for result in results for value in result.latencies]
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.errors)
    sent = sum(client.sent for client in everyone)
    running = [result for result in results if result.started]
    seconds = max(r.finished for r in running) - min(r.started for r in running) if running else 0.0
    failures = sorted((c.number, c.failure) for c in everyone if c.failure is not None)
    return LoadTestReport(
        url=url,
        clients=clients,
        messages=messages,
        processes=processes,
        rate_limit=rate_limit,
        bot=bot,
        seed=seed,
        connected=sum(1 for client in everyone if client.connected),
        connect_seconds=max((r.connect_wall for r in results), default=0.0),
        connect=percentiles([s for r in results for s in r.connect_seconds]),
        sent=sent,
        answered=len(latencies),
        errors=dict(errors),
        throttled=sum(r.throttled for r in results),
        lost=sum(r.lost for r in results),
        crossed=sum(r.crossed for r in results),
        unsent=clients * messages - sent,
        unsolicited=sum(r.unsolicited for r in results),
        seconds=seconds,
        latency=percentiles(latencies),
        client_cpu_seconds=sum(r.cpu_seconds for r in results),
        failures=tuple((n, str(why)) for n, why in failures[:_SHOWN_FAILURES]),
        elapsed=elapsed,
    )
