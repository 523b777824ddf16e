"""Helpers for the projector tests: run a projector in this process until its consumer has
nothing left, read the tables back in a comparable form, collect published VehicleChanged."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient

from od.events import (
    DealerChanged,
    FeedCompleted,
    Subjects,
    VehicleChanged,
    VehicleObserved,
    decode_event,
    encode_event,
)
from od.handlers import dealer_projector, vehicle_projector
from od.projections.db import Conn
from od.runtime import Runtime

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
VOLATILE = ("updated_at", "sold_at", "record_json")
"""Columns that record when a change was applied (and the record's JSON, which holds them):
they follow the delivery order."""


def observed(key: int, source: str = "homenet", minute: int = 0, dealer: str = "d1", **fields: Any) -> VehicleObserved:
    return VehicleObserved(
        event_id=f"{dealer}-{source}-{key}-{minute}",
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id=dealer,
        source=source,
        stock_number=f"S{key}",
        **fields,
    )


def completed(keys: Iterable[int], source: str = "homenet", minute: int = 0, dealer: str = "d1") -> FeedCompleted:
    return FeedCompleted(
        event_id=f"fc-{dealer}-{source}-{minute}",
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id=dealer,
        source=source,
        run_id=f"run-{minute}",
        keys=[f"stock:S{k}" for k in keys],
    )


def dealer(dealer_id: str = "d1", minute: int = 0, **fields: Any) -> DealerChanged:
    return DealerChanged(
        event_id=f"dc-{dealer_id}-{minute}",
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id=dealer_id,
        operation="upsert",
        name=fields.pop("name", "Dealer One"),
        **fields,
    )


async def drained(nc: NatsClient, subjects: Subjects, stream: str, durable: str) -> bool:
    info = await nc.jetstream().consumer_info(subjects.stream(stream), durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


@contextlib.asynccontextmanager
async def running(runtime: Runtime, *, relay: bool = True) -> AsyncIterator[None]:
    """Both projectors (and the relay) in this process while the block runs."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(vehicle_projector.run(runtime, stop, relay=relay)),
        asyncio.create_task(dealer_projector.run(runtime, stop)),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    """Wait (polling) until ``condition`` holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


async def settle(runtime: Runtime, seconds: float = 30, *, outbox: bool = True) -> None:
    """Wait until both projectors consumed everything (and the relay emptied the outbox)."""

    async def done() -> bool:
        return (
            await drained(runtime.nc, runtime.subjects, "OD_INVENTORY", "vehicle-projector")
            and await drained(runtime.nc, runtime.subjects, "OD_DEALERS", "dealer-projector")
            and not (outbox and await runtime.pool.fetchval("SELECT count(*) FROM vehicle_changes_outbox"))
        )

    await eventually(done, seconds)


async def table(
    db: asyncpg.Pool | asyncpg.Connection, name: str, *, drop: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A table's rows as dicts, ordered by every column (for equality checks). ``record_json``
    is compared parsed: the projector and the row's trigger write the same JSON differently
    spaced."""
    rows = await db.fetch(f"SELECT * FROM {name}")
    out = [
        {k: json.loads(v) if k == "record_json" and v is not None else v for k, v in dict(r).items() if k not in drop}
        for r in rows
    ]
    return sorted(out, key=lambda r: [str(r[k]) for k in sorted(r)])


async def snapshot(db: asyncpg.Pool | Conn, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "vehicles": await table(db, "vehicles", drop=drop),
        "vehicle_observations": await table(db, "vehicle_observations"),
        "feed_completions": await table(db, "feed_completions"),
    }


async def stale_record_json(db: asyncpg.Pool | Conn) -> list[str]:
    """Vehicles whose ``record_json`` (written by the projector) says something else than what
    Postgres builds from the row (``vehicle_record_json``, migrations/0007): should be none."""
    rows = await db.fetch(
        """SELECT vehicle_id FROM vehicles
           WHERE record_json IS NULL OR record_json::jsonb <> vehicle_record_json(
               vin, stock_number, year, make, model, trim, body_style, drivetrain, transmission,
               engine, fuel_type, exterior_color, interior_color, condition, mileage, price, msrp,
               currency, images, options, description, dealer_url, date_in_stock, vehicle_id,
               dealer_id, status, sources, first_seen_at, updated_at, sold_at, short_url, warnings
           )::jsonb
           ORDER BY vehicle_id"""
    )
    return [r["vehicle_id"] for r in rows]


async def changes(nc: NatsClient, subjects: Subjects) -> list[VehicleChanged]:
    """Every VehicleChanged on the changes stream, in order."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.stream("OD_CHANGES"))
    out: list[VehicleChanged] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(subjects.stream("OD_CHANGES"), seq)
        event = decode_event(msg.data)
        assert isinstance(event, VehicleChanged)
        assert msg.data == encode_event(event)  # the record's JSON spliced in is what the encoder writes
        out.append(event)
    return out
