"""`od replay vehicles`: the rebuilt tables equal the live ones, and the live ones keep serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from od.config import Settings
from od.events import FeedCompleted, VehicleObserved
from od.projections.replay import replay_vehicles
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration.projection_support import completed, dealer, observed, running, settle, snapshot


@pytest.fixture
async def runtime(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, name="od-test-replay", pool_size=8)
    yield rt
    await rt.close()


def history(rounds: range, vehicles: int = 40) -> list[VehicleObserved | FeedCompleted]:
    """Two dealers, two sources, a few vehicles missing from each round's complete pulls."""
    events: list[VehicleObserved | FeedCompleted] = []
    for r in rounds:
        for d in ("d1", "d2"):
            present = [k for k in range(vehicles) if (k + r) % 7]  # each round a few are missing
            for source in ("homenet", "scrape"):
                events += [observed(k, source, 10 * r, d, price=f"{20000 + k * 10 + r}.00") for k in present]
                events.append(completed(present, source, 10 * r + 5, d))
    return events


async def test_replay_rebuilds_the_same_tables_while_the_live_ones_serve(runtime: Runtime) -> None:
    pub = runtime.publisher
    await pub.publish(dealer("d1", price_preference="homenet"))
    initial = await pub.publish_all(history(range(3)))
    await pub.publish_raw(runtime.subjects.vehicle_observed("d1", "homenet"), b"poison", "poison-1")
    async with running(runtime):
        await settle(runtime)
        await runtime.pool.execute("UPDATE vehicles SET short_url = 'https://sl.test/' || vehicle_id")

        reads: list[int] = []

        async def reader() -> None:
            while True:
                reads.append(await runtime.pool.fetchval("SELECT count(*) FROM vehicles"))
                await asyncio.sleep(0.01)

        async def writer() -> None:  # the stream keeps growing during the replay
            for r in range(3, 6):
                await pub.publish_all(history(range(r, r + 1)))
                await asyncio.sleep(0.05)

        read_task = asyncio.create_task(reader())
        write_task = asyncio.create_task(writer())
        result = await replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, batch=300, progress=False)
        await write_task
        read_task.cancel()
        assert result.skipped == 1 and result.events > initial
        assert reads and min(reads) == 80  # never empty, never an error while swapping

        await settle(runtime)
        live = await snapshot(runtime.pool)
        assert len(live["vehicles"]) == 80
        assert all(v["short_url"] == f"https://sl.test/{v['vehicle_id']}" for v in live["vehicles"])

    # Quiet now: a second rebuild gives exactly the live tables, every column.
    await replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, batch=500, progress=False)
    assert await snapshot(runtime.pool) == live
    indexes = {r["indexname"] for r in await runtime.pool.fetch("SELECT indexname FROM pg_indexes")}
    assert {"vehicles_pkey", "vehicles_dealer", "vehicles_make_model", "vehicle_observations_pkey"} <= indexes
    assert not any("rebuild" in name for name in indexes)
