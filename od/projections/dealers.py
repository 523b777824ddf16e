"""The dealers projection's store: ``DealerChanged`` upserts and deletes, last write wins.

A row changes only for an event with a greater ``(occurred_at, event_id)`` than the one that
last wrote it, so redelivery and out-of-order delivery are safe; a delete of a dealer never
seen leaves a tombstone, so an older upsert delivered later cannot bring it back. A deleted
dealer keeps its row (``deleted_at`` set) and its vehicles; the API hides both.

Location: a ``location`` in the event is written as ``location_source = 'explicit'``. Without
one, a location the geocoder found (``geocoded:<provider>``) is kept unless the address
changed (it would point at the old place); an explicit location the admin removed is cleared,
for the geocoder to fill.

A change of ``price_preference`` re-merges the dealer's vehicles (their price may now come
from another source) under the dealer's exclusive lock, publishing ``updated`` changes.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from od.events import DealerChanged, VehicleChanged
from od.projections.db import Conn
from od.projections.vehicles import DEFAULT_PRICE_PREFERENCE, VehicleStore, lock_dealers

ADDRESS = ("street", "city", "region", "postal_code", "country")
LIVE = "dealers"
DEALER_COLUMNS: tuple[str, ...] = (
    "dealer_id",
    "name",
    "slug",
    "domain",
    *ADDRESS,
    "phone",
    "lat",
    "lng",
    "location_source",
    "platforms",
    "price_preference",
    "same_as",
    "config",
    "event_id",
    "event_at",
    "created_at",
    "updated_at",
    "deleted_at",
)
"""The columns of ``dealers`` this projection writes (others belong to other workers and survive
a replay; the geocoder writes ``lat``, ``lng`` and ``location_source`` too, see od/enrichment/geocode.py)."""

_UPSERT = """
INSERT INTO {table} (dealer_id, name, slug, domain, street, city, region, postal_code, country, phone,
                     lat, lng, location_source, platforms, price_preference, same_as, config,
                     event_id, event_at, updated_at, deleted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18, $19, now(), NULL)
ON CONFLICT (dealer_id) DO UPDATE SET
    name = excluded.name, slug = excluded.slug, domain = excluded.domain, street = excluded.street,
    city = excluded.city, region = excluded.region, postal_code = excluded.postal_code,
    country = excluded.country, phone = excluded.phone, lat = excluded.lat, lng = excluded.lng,
    location_source = excluded.location_source, platforms = excluded.platforms,
    price_preference = excluded.price_preference, same_as = excluded.same_as, config = excluded.config,
    event_id = excluded.event_id, event_at = excluded.event_at, updated_at = now(), deleted_at = NULL
"""

_DELETE = """
INSERT INTO {table} (dealer_id, name, event_id, event_at, deleted_at)
VALUES ($1, $1, $2, $3, $3)
ON CONFLICT (dealer_id) DO UPDATE SET
    event_id = excluded.event_id, event_at = excluded.event_at, deleted_at = excluded.deleted_at, updated_at = now()
"""


def dealer_config(event: DealerChanged) -> dict[str, Any]:
    """What fetchers, the scheduler and the link shortener read from ``dealers.config``."""
    return {
        "homenet": msgspec.to_builtins(event.homenet),
        "dealer_com": msgspec.to_builtins(event.dealer_com),
        "scrape": msgspec.to_builtins(event.scrape),
        "schedules": event.schedules,
        "utm": event.utm,
    }


def _location(event: DealerChanged, row: asyncpg.Record | None) -> tuple[float | None, float | None, str | None]:
    if event.location is not None:
        return event.location.lat, event.location.lng, "explicit"
    if row is None or row["location_source"] in (None, "explicit"):
        return None, None, None
    address = event.address
    new = tuple(getattr(address, f) if address else None for f in ADDRESS)
    if new != tuple(row[f] for f in ADDRESS):
        return None, None, None
    return row["lat"], row["lng"], row["location_source"]


async def apply(
    conn: Conn, event: DealerChanged, vehicles: VehicleStore | None, *, table: str = LIVE
) -> list[VehicleChanged]:
    """Apply one event inside the caller's transaction; returns the vehicle changes it caused.
    Without ``vehicles`` (a replay into ``table``), a changed price preference re-merges nothing."""
    if vehicles is not None:
        await lock_dealers(conn, (), (event.dealer_id,))
    row = await conn.fetchrow(
        f"""SELECT event_at, event_id, price_preference, lat, lng, location_source,
                   street, city, region, postal_code, country
            FROM {table} WHERE dealer_id = $1 FOR UPDATE""",  # noqa: S608 - a constant table name
        event.dealer_id,
    )
    if row is not None and (row["event_at"], row["event_id"]) >= (event.occurred_at, event.event_id):
        return []  # this event, or an older one
    if event.operation == "delete":
        await conn.execute(_DELETE.format(table=table), event.dealer_id, event.event_id, event.occurred_at)
        return []
    address = event.address
    lat, lng, location_source = _location(event, row)
    await conn.execute(
        _UPSERT.format(table=table),
        event.dealer_id,
        event.name,
        event.slug,
        event.domain,
        *(getattr(address, f) if address else None for f in ADDRESS),
        event.phone,
        lat,
        lng,
        location_source,
        event.platforms,
        event.price_preference,
        event.same_as,
        msgspec.json.encode(dealer_config(event)).decode(),
        event.event_id,
        event.occurred_at,
    )
    old_preference = row["price_preference"] if row is not None else DEFAULT_PRICE_PREFERENCE
    if vehicles is None or event.price_preference == old_preference:
        return []
    return await vehicles.remerge_dealer(conn, event.dealer_id, old_preference, event.occurred_at)
