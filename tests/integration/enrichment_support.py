"""Shared by the enrichment integration tests: rows written as the projectors would, events
published as they would, a worker kind run in the background, and waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from od import worker
from od.config import Settings
from od.events import DealerChanged, VehicleChanged, VehicleRecord
from od.runtime import Runtime

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def wait_for(condition: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def runtime_for(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings, name="od-test-enrichment", pool_size=5)
    try:
        yield runtime
    finally:
        await runtime.close()


@contextlib.asynccontextmanager
async def running(runtime: Runtime, *kinds: str) -> AsyncIterator[None]:
    """``od worker --only KIND …`` in the background, stopped (and awaited) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(runtime, stop, list(kinds)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def counter(db: asyncpg.Pool, worker_name: str, name: str) -> int:
    value = await db.fetchval(
        "SELECT value FROM enrichment_counters WHERE worker = $1 AND name = $2", worker_name, name
    )
    return int(value or 0)


async def insert_dealer(
    db: asyncpg.Pool,
    dealer_id: str,
    *,
    utm: dict[str, str] | None = None,
    event: DealerChanged | None = None,
    explicit: tuple[float, float] | None = None,
) -> None:
    """The row the dealer projector writes for ``event`` (or a bare dealer)."""
    address = event.address if event is not None else None
    await db.execute(
        """INSERT INTO dealers (dealer_id, name, street, city, region, postal_code, country, lat, lng,
                                location_source, config, event_id, event_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)""",
        dealer_id,
        f"Dealer {dealer_id}",
        address.street if address else None,
        address.city if address else None,
        address.region if address else None,
        address.postal_code if address else None,
        address.country if address else None,
        explicit[0] if explicit else None,
        explicit[1] if explicit else None,
        "explicit" if explicit else None,
        json.dumps({"utm": utm or {}}),
        event.event_id if event else "e0",
        event.occurred_at if event else T0,
    )


async def insert_vehicle(
    db: asyncpg.Pool, vehicle_id: str, dealer_id: str, dealer_url: str | None, status: str = "available"
) -> None:
    await db.execute(
        """INSERT INTO vehicles (vehicle_id, dealer_id, stock_number, dealer_url, status, first_seen_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)""",
        vehicle_id,
        dealer_id,
        vehicle_id.rpartition(":")[2],
        dealer_url,
        status,
        T0,
    )


def changed(
    vehicle_id: str,
    change: str,
    *,
    dealer_id: str = "d1",
    dealer_url: str | None = None,
    fields: list[str] | None = None,
) -> VehicleChanged:
    record = VehicleRecord(
        vehicle_id=vehicle_id,
        dealer_id=dealer_id,
        stock_number=vehicle_id.rpartition(":")[2],
        status="sold" if change == "sold" else "available",
        first_seen_at=T0,
        updated_at=T0,
        dealer_url=dealer_url,
    )
    return VehicleChanged(
        dealer_id=dealer_id,
        vehicle_id=vehicle_id,
        change=change,  # type: ignore[arg-type]
        vehicle=record,
        changed_fields=fields or [],
    )
