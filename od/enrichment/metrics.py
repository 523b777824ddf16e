"""The enrichment workers' state for ``/metrics``, readable from any process.

Counters live in Postgres (``enrichment_counters``, summed over every worker process and
surviving restarts); queue depth and the oldest pending message's age come from JetStream's
consumer info. The API registers an :class:`EnrichmentCollector` in its registry and awaits
:meth:`EnrichmentCollector.refresh` before rendering.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from od.events import Subjects

WORKERS: dict[str, str] = {"shortlinks": "OD_CHANGES", "geocoder": "OD_DEALERS", "indexnow": "OD_CHANGES"}
"""Worker (= durable consumer name) -> its stream."""

_STANDARD = ("done", "retried", "dead_lettered")


@dataclass(frozen=True)
class QueueState:
    worker: str
    pending: int
    """Messages not yet delivered plus delivered but not yet acknowledged."""
    oldest_age_s: float
    """Age of the oldest message not yet acknowledged (0 when none)."""
    redelivered: int


@dataclass
class Snapshot:
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    queues: list[QueueState] = field(default_factory=list)


async def queue_state(nc: NatsClient, subjects: Subjects, worker: str, stream: str) -> QueueState | None:
    """From the consumer's info; ``None`` when the consumer does not exist (not applied)."""
    js = nc.jetstream()
    name = subjects.stream(stream)
    try:
        info = await js.consumer_info(name, worker)
    except (nats.js.errors.NotFoundError, nats.errors.TimeoutError):
        return None
    pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
    age = 0.0
    if pending and info.ack_floor is not None:
        # The first message after the ack floor is the oldest not yet acknowledged (for a
        # filtered consumer, at least as old as it).
        try:
            oldest = await js.get_msg(name, seq=info.ack_floor.stream_seq + 1)
        except (nats.js.errors.NotFoundError, nats.js.errors.APIError):
            oldest = None
        if oldest is not None and oldest.time is not None:
            age = max(0.0, (datetime.now(UTC) - oldest.time).total_seconds())
    return QueueState(worker, pending, age, info.num_redelivered or 0)


async def snapshot(nc: NatsClient, pool: asyncpg.Pool, subjects: Subjects) -> Snapshot:
    rows = await pool.fetch("SELECT worker, name, value FROM enrichment_counters")
    queues = [q for w, s in WORKERS.items() if (q := await queue_state(nc, subjects, w, s)) is not None]
    return Snapshot({(r["worker"], r["name"]): r["value"] for r in rows}, queues)


class EnrichmentCollector(Collector):
    """Prometheus families from the latest :meth:`refresh`."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()

    async def refresh(self, nc: NatsClient, pool: asyncpg.Pool, subjects: Subjects) -> None:
        self._snapshot = await snapshot(nc, pool, subjects)

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        for name in _STANDARD:
            family = CounterMetricFamily(
                f"od_enrichment_{name}", f"Messages an enrichment worker {name.replace('_', '-')}", labels=["worker"]
            )
            for worker in WORKERS:
                family.add_metric([worker], snap.counters.get((worker, name), 0))
            yield family
        outcomes = CounterMetricFamily(
            "od_enrichment_outcomes", "What enrichment workers did (links created, ...)", labels=["worker", "outcome"]
        )
        for (worker, name), value in sorted(snap.counters.items()):
            if name not in _STANDARD:
                outcomes.add_metric([worker, name], value)
        yield outcomes
        depth = GaugeMetricFamily("od_enrichment_queue_depth", "Messages not yet acknowledged", labels=["worker"])
        age = GaugeMetricFamily(
            "od_enrichment_oldest_pending_seconds", "Age of the oldest unacknowledged message", labels=["worker"]
        )
        redelivered = GaugeMetricFamily(
            "od_enrichment_redelivered", "Pending messages delivered more than once", labels=["worker"]
        )
        for q in snap.queues:
            depth.add_metric([q.worker], q.pending)
            age.add_metric([q.worker], q.oldest_age_s)
            redelivered.add_metric([q.worker], q.redelivered)
        yield from (depth, age, redelivered)
