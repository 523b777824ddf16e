"""The API's Prometheus metrics, in a registry of its own per app (no global state, so
several apps in one process, as in tests, do not collide)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from od.enrichment.metrics import EnrichmentCollector
from od.scheduling.metrics import JobMetrics

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("od_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "od_http_request_duration_seconds",
            "Time to answer a request, body included",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.projection_lag = Gauge(
            "od_projection_lag_messages",
            "Stream messages not yet applied by a projection (stream last seq - checkpoint)",
            ["consumer", "stream"],
            registry=r,
        )
        self.dead_letters = Gauge("od_dead_letters", "Dead-lettered events not yet replayed", ["consumer"], registry=r)
        self.jobs = JobMetrics(r)
        """Job statistics (od.scheduling): refreshed from the database before each render."""
        self.enrichment = EnrichmentCollector()
        """Enrichment workers' counters and queues (od.enrichment): refreshed the same way."""
        r.register(self.enrichment)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_state(
        self,
        *,
        lag: Iterable[tuple[str, str, int]],
        dead_letters: Iterable[tuple[str, int]],
    ) -> None:
        """Replace the gauges read from the database, so vanished label sets disappear."""
        for gauge in (self.projection_lag, self.dead_letters):
            gauge.clear()
        for consumer, stream, value in lag:
            self.projection_lag.labels(consumer, stream).set(value)
        for consumer, count in dead_letters:
            self.dead_letters.labels(consumer).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
