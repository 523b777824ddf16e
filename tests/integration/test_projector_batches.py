"""The same events cut into batches of 1,000 or of 37 give the same tables and the same set of
VehicleChanged ids: a redelivery after a crash cuts the stream differently, and a change must
keep its id to be deduplicated. (Records with warnings once hashed differently when their
warnings came from an event rather than from stored registers.)"""

from __future__ import annotations

import asyncpg

from od.bench import crash
from od.events import FeedCompleted, VehicleObserved
from od.projections.vehicles import VehicleStore


async def fold(url: str, events: list[VehicleObserved | FeedCompleted], size: int) -> list[str]:
    conn = await asyncpg.connect(url)
    store = VehicleStore()
    ids: list[str] = []
    try:
        for start in range(0, len(events), size):
            async with conn.transaction():
                ids += [c.event_id for c in await store.apply(conn, events[start : start + size])]
    finally:
        await conn.close()
    return ids


async def test_batch_boundaries_change_nothing(database_url: str, other_database_url: str) -> None:
    events = [e for chunk in crash.chunks(2_000) for e in chunk]
    assert any(isinstance(e, VehicleObserved) and e.warnings for e in events)
    large = await fold(database_url, events, 1000)
    small = await fold(other_database_url, events, 37)
    assert len(large) > 1000 and sorted(small) == sorted(large)
    assert await crash.mismatched_rows(database_url, other_database_url) == 0
