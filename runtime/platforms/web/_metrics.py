"""Prometheus metrics of one gateway and its runtime (``GET /metrics``), via prometheus_client.

Each gateway has its own ``CollectorRegistry`` (never the process-global one), so several
apps in one process, as in tests, do not clash. The runtime's own counters are read from
``Runtime.stats()`` at each scrape; the gateway counts what only it sees (events by kind and
protocol, turn latency, frames refused, connections).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from runtime.runtime import Runtime

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class _RuntimeCollector(Collector):
    """Reads ``Runtime.stats()`` at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._runtime.stats()
        sessions = GaugeMetricFamily(
            "runtime_sessions", "Sessions by where they are", labels=["state"]
        )
        sessions.add_metric(["live"], stats.sessions_live)
        sessions.add_metric(["passivated"], stats.sessions_passivated)
        yield sessions
        events = CounterMetricFamily(
            "runtime_events", "Events by outcome (runtime counters)", labels=["outcome"]
        )
        for outcome, value in (
            ("accepted", stats.events_accepted),
            ("processed", stats.events_processed),
            ("failed", stats.events_failed),
            ("rejected", stats.events_rejected),
            ("duplicate", stats.duplicates),
        ):
            events.add_metric([outcome], value)
        yield events
        yield GaugeMetricFamily(
            "runtime_events_pending", "Accepted events not settled yet", value=stats.events_pending
        )
        errors = CounterMetricFamily(
            "runtime_failures", "Failures inside turns, by kind", labels=["kind"]
        )
        for kind, value in (
            ("body", stats.body_errors),
            ("event_function", stats.event_errors),
            ("classifier", stats.classifier_errors),
            ("hop_limit", stats.hop_limit_hits),
            ("turn_timeout", stats.turn_timeouts),
            ("store", stats.store_errors),
            ("value", stats.value_errors),
            ("actor_restart", stats.actor_restarts),
            ("poison", stats.poison_events),
        ):
            errors.add_metric([kind], value)
        yield errors
        yield CounterMetricFamily(
            "runtime_overloads",
            "Events refused because a queue was full",
            value=stats.events_rejected,
        )
        yield GaugeMetricFamily("runtime_workers", "Dispatcher worker threads", value=stats.workers)


class GatewayMetrics:
    """The metrics of one gateway; ``registry`` is what ``/metrics`` renders."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_RuntimeCollector(runtime))
        self.events = Counter(
            "runtime_gateway_events",
            "Events the gateway accepted, by kind and protocol",
            ["kind", "protocol"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "runtime_turn_latency_seconds",
            "Seconds from accepting an event to its committed replies (or failure)",
            ["protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.turn_failures = Counter(
            "runtime_gateway_turn_failures",
            "Turns that failed (nothing committed), by error code",
            ["code"],
            registry=self.registry,
        )
        self.refused = Counter(
            "runtime_gateway_refused",
            "Client frames and requests refused before reaching a session, by error code",
            ["code"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "runtime_connections",
            "Open WebSocket connections, by protocol",
            ["protocol"],
            registry=self.registry,
        )
        self.connections_opened = Counter(
            "runtime_connections_opened",
            "WebSocket connections accepted, by protocol",
            ["protocol"],
            registry=self.registry,
        )
