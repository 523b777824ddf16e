"""The dealers projection: last write wins, tombstones, locations, config."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from od.events import DealerChanged
from od.events.model import Address, HomenetConfig, Location
from od.projections import dealers
from od.projections.vehicles import VehicleStore
from tests.integration.projection_support import T0

SEATTLE = Address(street="1 Pine St", city="Seattle", region="WA", postal_code="98101", country="US")


def change(minute: int, operation: str = "upsert", **fields: object) -> DealerChanged:
    return DealerChanged(
        event_id=f"e{minute}",
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id="d1",
        operation=operation,  # type: ignore[arg-type]
        name=str(fields.pop("name", "Dealer One")) if operation == "upsert" else None,
        **fields,  # type: ignore[arg-type]
    )


async def apply(db: asyncpg.Pool, *events: DealerChanged) -> asyncpg.Record:
    for event in events:
        async with db.acquire() as conn, conn.transaction():
            await dealers.apply(conn, event, VehicleStore())
    row = await db.fetchrow("SELECT * FROM dealers WHERE dealer_id = 'd1'")
    assert row is not None
    return row


async def test_last_write_wins_whatever_the_delivery_order(db: asyncpg.Pool) -> None:
    row = await apply(db, change(5, name="Newer"), change(1, name="Older"), change(5, name="Newer"))
    assert row["name"] == "Newer" and row["event_id"] == "e5"


async def test_delete_keeps_the_row_and_a_tombstone_beats_older_upserts(db: asyncpg.Pool) -> None:
    row = await apply(db, change(9, "delete"), change(3, name="Too old"))
    assert row["deleted_at"] == T0 + timedelta(minutes=9) and row["name"] == "d1"
    row = await apply(db, change(12, name="Back"))
    assert row["deleted_at"] is None and row["name"] == "Back"


async def test_explicit_locations_win_and_geocoded_ones_survive_an_upsert_without_one(db: asyncpg.Pool) -> None:
    row = await apply(db, change(1, address=SEATTLE, location=Location(lat=47.6, lng=-122.3)))
    assert (row["lat"], row["lng"], row["location_source"]) == (47.6, -122.3, "explicit")
    row = await apply(db, change(2, address=SEATTLE))  # the admin removed it: the geocoder fills it
    assert row["lat"] is None and row["location_source"] is None
    await db.execute("UPDATE dealers SET lat = 47.61, lng = -122.33, location_source = 'geocoded:nominatim'")
    row = await apply(db, change(3, address=SEATTLE, phone="+1 206 555 0100"))
    assert (row["lat"], row["location_source"]) == (47.61, "geocoded:nominatim")
    moved = Address(street="9 Main St", city="Tacoma", region="WA", postal_code="98402", country="US")
    row = await apply(db, change(4, address=moved))  # geocoded for the old address: cleared
    assert row["lat"] is None and row["location_source"] is None and row["city"] == "Tacoma"


async def test_config_keeps_what_fetchers_and_schedulers_read(db: asyncpg.Pool) -> None:
    row = await apply(
        db,
        change(
            1,
            platforms=["homenet"],
            homenet=HomenetConfig(rooftop_id="R1"),
            schedules={"homenet": "0 */6 * * *"},
            utm={"utm_source": "od"},
            price_preference="homenet",
        ),
    )
    assert json.loads(row["config"]) == {
        "homenet": {"rooftop_id": "R1"},
        "dealer_com": None,
        "scrape": None,
        "schedules": {"homenet": "0 */6 * * *"},
        "utm": {"utm_source": "od"},
    }
    assert row["platforms"] == ["homenet"] and row["price_preference"] == "homenet"
