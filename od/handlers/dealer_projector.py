"""``od worker --only dealer-projector``: ``DealerChanged`` → ``dealers``.

A changed price preference re-merges the dealer's vehicles; their ``VehicleChanged`` go to the
outbox, which the vehicle projector's relay publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from od.events import DealerChanged
from od.handlers.projector import Projector
from od.projections import dealers
from od.projections.db import Conn
from od.projections.vehicles import VehicleStore
from od.runtime import Runtime

CONSUMER = "dealer-projector"
STREAM = "OD_DEALERS"


def projector(runtime: Runtime) -> Projector:
    store = VehicleStore()

    async def apply(conn: Conn, events: Sequence[DealerChanged]) -> int:
        changes = 0
        for event in events:
            changes += len(await dealers.apply(conn, event, store))
        return changes

    return Projector(runtime, CONSUMER, STREAM, (DealerChanged,), apply)


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    await projector(runtime).run(stop, batch=200)
