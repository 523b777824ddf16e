"""Two `od worker --only vehicle-projector` processes on one durable consumer give the same
tables as one projector applying everything alone."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
from nats.aio.client import Client as NatsClient

from od.config import Settings
from od.events import FeedCompleted, Subjects, VehicleObserved
from od.projections.vehicles import VehicleStore
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration.projection_support import VOLATILE, completed, drained, eventually, observed, snapshot
from tests.od_process import start_od


def history() -> list[VehicleObserved | FeedCompleted]:
    """Rounds of two sources' complete pulls, each round missing a few vehicles: every vehicle
    is touched by several batches, which the two workers take concurrently."""
    events: list[VehicleObserved | FeedCompleted] = []
    for r in range(4):
        present = [k for k in range(300) if (k + r) % 9]
        for source in ("homenet", "scrape"):
            events += [observed(k, source, 10 * r, price=f"{20000 + 7 * k + r}.00", year=2020 + r) for k in present]
            events.append(completed(present, source, 10 * r + 5))
    return events


async def test_two_worker_processes_equal_one(
    settings: Settings, js_streams: StreamsFile, nc: NatsClient, subjects: Subjects, other_database_url: str
) -> None:
    events = history()
    runtime = await Runtime.open(settings, name="od-test-workers")
    try:
        assert await runtime.publisher.publish_all(events) == len(events)
        workers = [await start_od(settings, "worker", "--only", "vehicle-projector") for _ in range(2)]
        try:
            await eventually(lambda: drained(nc, subjects, "OD_INVENTORY", "vehicle-projector"), 90)
            assert all(w.returncode is None for w in workers)
        finally:
            for w in workers:
                if w.returncode is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                await asyncio.wait_for(w.wait(), 20)
        two = await snapshot(runtime.pool, drop=VOLATILE)
    finally:
        await runtime.close()

    alone = await asyncpg.connect(other_database_url)
    try:
        async with alone.transaction():
            await VehicleStore().apply(alone, events)
        assert await snapshot(alone, drop=VOLATILE) == two
        assert len(two["vehicles"]) == 300
    finally:
        await alone.close()
