"""Job statistics for ``/metrics``, computed from ``job_runs`` and ``circuit_breakers`` when
Prometheus scrapes (no worker has to be reachable): runs ended recently by status, throughput,
success ratio per job type and per dealer, and each host's circuit-breaker state.

The API wires it in two lines: ``jobs = JobMetrics(registry)`` once, then
``await jobs.refresh(conn)`` in the ``/metrics`` handler before rendering.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from od.scheduling import store
from od.scheduling.store import Conn

WINDOW_S = 86400.0
THROUGHPUT_WINDOW_S = 300.0
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class JobStats(msgspec.Struct, kw_only=True):
    window_s: float
    ended: dict[str, int]
    """Runs ended in the window, by status (their sum is the runs processed)."""
    per_minute: float
    """Runs ended per minute over the last five minutes."""
    job_success: dict[str, float]
    dealer_success: dict[str, float]
    breakers: dict[str, tuple[str, int]]
    """host → (state, consecutive failures)."""


async def job_stats(conn: Conn, *, window_s: float = WINDOW_S) -> JobStats:
    by_status = await conn.fetch(
        """SELECT status, count(*) AS n FROM job_runs
           WHERE ended_at >= now() - make_interval(secs => $1) GROUP BY status""",
        window_s,
    )
    recent = await conn.fetchval(
        "SELECT count(*) FROM job_runs WHERE ended_at >= now() - make_interval(secs => $1)", THROUGHPUT_WINDOW_S
    )
    jobs = await conn.fetch(
        """SELECT job AS key, avg((status = 'succeeded')::int)::float8 AS ratio FROM job_runs
           WHERE ended_at >= now() - make_interval(secs => $1) GROUP BY job""",
        window_s,
    )
    dealers = await conn.fetch(
        """SELECT dealer_id AS key, avg((status = 'succeeded')::int)::float8 AS ratio FROM job_runs
           WHERE ended_at >= now() - make_interval(secs => $1) GROUP BY dealer_id""",
        window_s,
    )
    breakers = await store.breakers(conn)
    return JobStats(
        window_s=window_s,
        ended={r["status"]: r["n"] for r in by_status},
        per_minute=recent / (THROUGHPUT_WINDOW_S / 60),
        job_success={r["key"]: r["ratio"] for r in jobs},
        dealer_success={r["key"]: r["ratio"] for r in dealers},
        breakers={host: (b.state, b.failures) for host, b in breakers.items()},
    )


class JobMetrics:
    """A Prometheus collector serving the figures of the latest :meth:`refresh`."""

    def __init__(self, registry: CollectorRegistry | None = None, *, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._stats: JobStats | None = None
        if registry is not None:
            registry.register(self)

    async def refresh(self, conn: Conn) -> JobStats:
        self._stats = await job_stats(conn, window_s=self.window_s)
        return self._stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        if stats is None:
            return
        hours = f"{stats.window_s / 3600:g}h"
        ended = GaugeMetricFamily(
            "od_jobs_ended", f"Job runs ended in the last {hours}, by status (their sum: processed)", labels=["status"]
        )
        for status in ("succeeded", "failed", "blocked", "skipped"):
            ended.add_metric([status], stats.ended.get(status, 0))
        yield ended
        yield GaugeMetricFamily(
            "od_jobs_throughput_per_minute", "Job runs ended per minute over the last 5 minutes", value=stats.per_minute
        )
        job = GaugeMetricFamily(
            "od_jobs_success_ratio", f"Share of runs ended in the last {hours} that succeeded, per job", labels=["job"]
        )
        for name, value in sorted(stats.job_success.items()):
            job.add_metric([name], value)
        yield job
        dealer = GaugeMetricFamily(
            "od_jobs_dealer_success_ratio",
            f"Share of runs ended in the last {hours} that succeeded, per dealer",
            labels=["dealer_id"],
        )
        for name, value in sorted(stats.dealer_success.items()):
            dealer.add_metric([name], value)
        yield dealer
        state = GaugeMetricFamily(
            "od_jobs_breaker_state", "Circuit breaker per host: 0 closed, 1 half-open, 2 open", labels=["host"]
        )
        failures = GaugeMetricFamily(
            "od_jobs_breaker_failures", "Consecutive transient failures per host", labels=["host"]
        )
        for host, (name, count) in sorted(stats.breakers.items()):
            state.add_metric([host], BREAKER_STATES[name])
            failures.add_metric([host], count)
        yield state
        yield failures
