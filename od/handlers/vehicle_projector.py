"""``od worker --only vehicle-projector``: ``VehicleObserved`` / ``FeedCompleted`` → the vehicle
projection, and the relay that publishes its ``VehicleChanged`` outbox (see od.handlers.outbox).

Any number of these may share the durable consumer: transactions are idempotent and lock what
they touch (od.projections.vehicles), and one relay publishes at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from od.events import FeedCompleted, VehicleObserved
from od.handlers import outbox
from od.handlers.projector import Projector
from od.projections.db import Conn
from od.projections.vehicles import VehicleStore
from od.runtime import Runtime

CONSUMER = "vehicle-projector"
STREAM = "OD_INVENTORY"
BATCH = 3000
LANES = 3
"""Each batch is applied as three transactions of ~1,000 events at once (see Projector.lanes):
`od bench project` one worker 0.46 of the baseline with one lane of 1,000, 0.54-0.59 with these."""


def projector(runtime: Runtime, store: VehicleStore | None = None) -> Projector:
    vehicles = store or VehicleStore()

    async def apply(conn: Conn, events: Sequence[VehicleObserved | FeedCompleted]) -> int:
        return len(await vehicles.apply(conn, events))

    return Projector(runtime, CONSUMER, STREAM, (VehicleObserved, FeedCompleted), apply, lanes=LANES)


async def run(runtime: Runtime, stop: asyncio.Event, *, relay: bool = True) -> None:
    tasks = [asyncio.create_task(projector(runtime).run(stop, batch=BATCH))]
    if relay:
        tasks.append(asyncio.create_task(outbox.run(runtime, stop)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
