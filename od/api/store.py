"""The read side's SQL: vehicles and dealers as the API serves them.

Columns come from the Structs (``VehicleRecord``, ``DealerView``), so a field added to the
record is selected without touching a query. A vehicle whose dealer is missing or deleted is
invisible everywhere (``VISIBLE``). Every value is a bind parameter; the only text put into
SQL is chosen from constants here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from msgspec import Meta

from od.api.geo import EARTH_RADIUS_KM, bounding_box
from od.api.views import DealerView, VehicleCounts
from od.events import Address, FieldWarning, Location, VehicleRecord
from od.events.model import Condition, DealerId

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
"""No control characters (Postgres text cannot hold NUL; no real value has the others)."""
Text = Annotated[str, Meta(min_length=1, max_length=200, pattern=PRINTABLE)]
Year = Annotated[int, Meta(ge=1886, le=2100)]
Price = Annotated[float, Meta(ge=0, le=9_999_999_999.99)]
VinQuery = Annotated[
    str, Meta(pattern=r"^[A-HJ-NPR-Za-hj-npr-z0-9]{17}$", description="17 characters; case-insensitive")
]


class VehicleFilters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The contract's vehicle filters; also the identity of a listing for its cursors."""

    dealer_id: DealerId | None = None
    vin: VinQuery | None = None
    make: Annotated[Text, Meta(description="case-insensitive")] | None = None
    model: Annotated[Text, Meta(description="case-insensitive")] | None = None
    year_min: Year | None = None
    year_max: Year | None = None
    price_min: Price | None = None
    price_max: Price | None = None
    condition: Condition | None = None
    status: Literal["available", "sold"] = "available"


VISIBLE = "vehicles v JOIN dealers d ON d.dealer_id = v.dealer_id AND d.deleted_at IS NULL"
_CAST = {"price": "v.price::text", "msrp": "v.msrp::text", "warnings": "v.warnings::text"}
VEHICLE_COLUMNS = ", ".join(
    f"{_CAST[f.name]} AS {f.name}" if f.name in _CAST else f"v.{f.name}" for f in msgspec.structs.fields(VehicleRecord)
)


VEHICLE_JSON = "v.record_json"
"""The row's ``VehicleRecord`` as JSON, kept with the row (migrations/0007, 0008): listings and feeds
send it as it is."""
_VEHICLE_FIELDS = tuple(f.name for f in msgspec.structs.fields(VehicleRecord))
_STATUS = {"available": "v.status = 'available'", "sold": "v.status = 'sold'"}
_warnings = msgspec.json.Decoder(list[FieldWarning])


def _struct(cls: type[Any], names: tuple[str, ...], row: asyncpg.Record) -> Any:
    # No validation: the projector stored validated values. zip() over the row's values is
    # much cheaper than the Record's mapping interface.
    values = dict(zip(names, row, strict=True))
    warnings = values["warnings"]
    values["warnings"] = [] if warnings == "[]" else _warnings.decode(warnings)
    return cls(**values)


def vehicle_record(row: asyncpg.Record) -> VehicleRecord:
    """A row selected as ``VEHICLE_COLUMNS``."""
    record: VehicleRecord = _struct(VehicleRecord, _VEHICLE_FIELDS, row)
    return record


def filter_sql(filters: VehicleFilters, args: list[Any]) -> list[str]:
    """WHERE clauses (on ``v``) for the filters, appending their values to ``args``."""

    def arg(value: Any, cast: str = "") -> str:
        args.append(value)
        return f"${len(args)}{cast}"

    # The status is a literal, not a parameter, so partial indexes on it stay usable.
    clauses = [_STATUS[filters.status]]
    if filters.dealer_id is not None:
        clauses.append(f"v.dealer_id = {arg(filters.dealer_id)}")
    if filters.vin is not None:
        clauses.append(f"v.vin = {arg(filters.vin.upper())}")
    if filters.make is not None:
        clauses.append(f"lower(v.make) = lower({arg(filters.make)})")
    if filters.model is not None:
        clauses.append(f"lower(v.model) = lower({arg(filters.model)})")
    if filters.year_min is not None:
        clauses.append(f"v.year >= {arg(filters.year_min)}")
    if filters.year_max is not None:
        clauses.append(f"v.year <= {arg(filters.year_max)}")
    if filters.price_min is not None:
        clauses.append(f"v.price >= {arg(str(filters.price_min), '::numeric')}")
    if filters.price_max is not None:
        clauses.append(f"v.price <= {arg(str(filters.price_max), '::numeric')}")
    if filters.condition is not None:
        clauses.append(f"v.condition = {arg(filters.condition)}")
    return clauses


async def list_vehicles(
    pool: asyncpg.Pool, filters: VehicleFilters, *, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """One page in ``vehicle_id`` order, strictly after ``after``: ``(vehicle_id, JSON)``."""
    args: list[Any] = []
    clauses = filter_sql(filters, args)
    if after is not None:
        args.append(after)
        clauses.append(f"v.vehicle_id > ${len(args)}")
    args.append(limit)
    sql = (
        f"SELECT v.vehicle_id, {VEHICLE_JSON} FROM {VISIBLE} WHERE {' AND '.join(clauses)}"  # noqa: S608 (constants only)
        f" ORDER BY v.vehicle_id LIMIT ${len(args)}"
    )
    return [(row[0], row[1]) for row in await pool.fetch(sql, *args)]


async def get_vehicle(pool: asyncpg.Pool, vehicle_id: str) -> VehicleRecord | None:
    row = await pool.fetchrow(f"SELECT {VEHICLE_COLUMNS} FROM {VISIBLE} WHERE v.vehicle_id = $1", vehicle_id)  # noqa: S608
    return None if row is None else vehicle_record(row)


def _haversine_sql(lat: str, lng: str) -> str:
    """Distance in km from dealer ``d`` to the point (lat, lng): ``geo.haversine_km`` in SQL."""
    return (
        f"2 * {EARTH_RADIUS_KM} * asin(least(1.0, sqrt("
        f"power(sin(radians(d.lat - {lat}) / 2), 2)"
        f" + cos(radians({lat})) * cos(radians(d.lat)) * power(sin(radians(d.lng - {lng}) / 2), 2))))"
    )


FIRST_RING_KM = 50.0
"""Nearby search looks this far first (beyond the page's start), then four times as far, then
the whole radius: a page is usually full within a few dealers, and a search costs what sorting
the dealers of its circle by distance costs (a 500 km circle holds thousands). At 50 km one
search in 500 of `od bench api` needs a second circle (at 25 km, one in five: -15% req/s)."""


async def nearby_vehicles(
    pool: asyncpg.Pool,
    filters: VehicleFilters,
    *,
    lat: float,
    lng: float,
    radius_km: float,
    after: tuple[float, str] | None,
    limit: int,
) -> list[tuple[float, str, str]]:
    """Nearest first (ties by ``vehicle_id``), strictly after the ``(distance, vehicle_id)`` key:
    ``(distance_km, vehicle_id, JSON of the vehicle)``.

    Searched in growing circles: when ``limit`` rows lie within a smaller circle, they are the
    page, since every row outside it is farther than each of them. In each circle, dealers in
    its bounding box come off the ``dealers (lat, lng)`` index and are ordered by exact
    distance; each one's vehicles come off its ``(dealer_id, status, vehicle_id)`` index, and
    the incremental sort stops as soon as ``limit`` rows are certain."""
    args: list[Any] = [lat, lng, *[None] * 7]  # $3..$9 (_CIRCLE): each circle's radius and box
    near = ["d.distance <= $3"]
    clauses = filter_sql(filters, args)
    if after is not None:
        args += list(after)
        near.append(f"d.distance >= ${len(args) - 1}")
        clauses.append(f"(n.distance > ${len(args) - 1} OR v.vehicle_id > ${len(args)})")
    args.append(limit)
    sql = f"""
        SELECT n.distance, v.vehicle_id, {VEHICLE_JSON} FROM (
            SELECT d.dealer_id, d.distance FROM (
                SELECT d.dealer_id, {_haversine_sql("$1::float8", "$2::float8")} AS distance
                FROM dealers d
                WHERE d.deleted_at IS NULL AND d.lat IS NOT NULL
                  AND d.lat BETWEEN $4 AND $5 AND (d.lng BETWEEN $6 AND $7 OR d.lng BETWEEN $8 AND $9)
            ) d
            WHERE {" AND ".join(near)}
            ORDER BY d.distance, d.dealer_id
        ) n
        CROSS JOIN LATERAL (
            SELECT v.* FROM vehicles v
            WHERE v.dealer_id = n.dealer_id AND {" AND ".join(clauses)}
            ORDER BY v.vehicle_id LIMIT ${len(args)}
        ) v
        ORDER BY n.distance, v.vehicle_id
        LIMIT ${len(args)}
    """  # noqa: S608 (constants and placeholders only)
    reach = FIRST_RING_KM + (after[0] if after is not None else 0.0)
    while True:
        if reach * 2 >= radius_km:  # the next circle would cost about as much as the whole
            reach = radius_km
        box = bounding_box(lat, lng, reach)
        args[_CIRCLE] = [reach, box.lat_min, box.lat_max, *box.as_pairs()]
        rows = await pool.fetch(sql, *args)
        if len(rows) == limit or reach == radius_km:
            return [(row[0], row[1], row[2]) for row in rows]
        reach *= 4


_CIRCLE = slice(2, 9)


_DEALER_SQL = """
    SELECT d.dealer_id, d.name, d.slug, d.domain, d.phone, d.street, d.city, d.region, d.postal_code,
           d.country, d.lat, d.lng, d.location_source, d.platforms, d.same_as, d.updated_at,
           c.available, c.sold
    FROM dealers d
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE v.status = 'available') AS available,
               count(*) FILTER (WHERE v.status = 'sold') AS sold
        FROM vehicles v WHERE v.dealer_id = d.dealer_id
    ) c
    WHERE d.deleted_at IS NULL
"""


def dealer_view(row: asyncpg.Record) -> DealerView:
    located = row["lat"] is not None and row["lng"] is not None
    return DealerView(
        dealer_id=row["dealer_id"],
        name=row["name"],
        slug=row["slug"],
        domain=row["domain"],
        phone=row["phone"],
        address=Address(
            street=row["street"],
            city=row["city"],
            region=row["region"],
            postal_code=row["postal_code"],
            country=row["country"],
        ),
        location=Location(lat=row["lat"], lng=row["lng"]) if located else None,
        location_source=row["location_source"],
        platforms=list(row["platforms"]),
        same_as=list(row["same_as"]),
        vehicle_counts=VehicleCounts(available=row["available"], sold=row["sold"]),
        updated_at=row["updated_at"],
    )


async def list_dealers(pool: asyncpg.Pool, *, after: str | None, limit: int) -> list[DealerView]:
    rows = await pool.fetch(
        _DEALER_SQL + " AND ($1::text IS NULL OR d.dealer_id > $1) ORDER BY d.dealer_id LIMIT $2", after, limit
    )
    return [dealer_view(row) for row in rows]


async def get_dealer(pool: asyncpg.Pool, dealer_id: str) -> DealerView | None:
    row = await pool.fetchrow(_DEALER_SQL + " AND d.dealer_id = $1", dealer_id)
    return None if row is None else dealer_view(row)


def split_page(rows: Sequence[Any], limit: int) -> tuple[Sequence[Any], Any]:
    """Queries fetch ``limit + 1`` rows: the page, and its last item when more follow."""
    page = rows[:limit]
    return page, (page[-1] if len(rows) > limit else None)


class ProjectionState(msgspec.Struct, frozen=True):
    """What every change to a listing moves: the newest ``updated_at`` and the row counts
    of vehicles and of visible dealers. Cheap (index-only aggregates), read in the same
    snapshot as the body it validates."""

    vehicles_at: Any
    available: int
    dealers_at: Any
    dealers: int

    @property
    def last_modified(self) -> Any:
        stamps = [t for t in (self.vehicles_at, self.dealers_at) if t is not None]
        return max(stamps) if stamps else None


async def projection_state(conn: Any, dealer_id: str | None = None) -> ProjectionState | None:
    """The state of every visible vehicle, or of one dealer's (``None``: no such dealer)."""
    if dealer_id is None:
        row = await conn.fetchrow(
            """SELECT (SELECT max(updated_at) FROM vehicles) AS vehicles_at,
                      (SELECT count(*) FROM vehicles WHERE status = 'available') AS available,
                      (SELECT max(updated_at) FROM dealers) AS dealers_at,
                      (SELECT count(*) FROM dealers WHERE deleted_at IS NULL) AS dealers"""
        )
    else:
        row = await conn.fetchrow(
            """SELECT (SELECT max(updated_at) FROM vehicles WHERE dealer_id = $1) AS vehicles_at,
                      (SELECT count(*) FROM vehicles WHERE dealer_id = $1 AND status = 'available') AS available,
                      d.updated_at AS dealers_at, 1 AS dealers
               FROM dealers d WHERE d.dealer_id = $1 AND d.deleted_at IS NULL""",
            dealer_id,
        )
    return None if row is None else ProjectionState(**dict(row.items()))


def feed_sql(dealer_id: str | None) -> tuple[str, list[Any]]:
    """Every available visible vehicle (of one dealer), in ``vehicle_id`` order."""
    where, args = ("AND v.dealer_id = $1", [dealer_id]) if dealer_id is not None else ("", [])
    sql = f"SELECT {VEHICLE_JSON} FROM {VISIBLE} WHERE v.status = 'available' {where} ORDER BY v.vehicle_id"  # noqa: S608
    return sql, args


class SitemapKind(msgspec.Struct, frozen=True):
    """A kind of page in the sitemaps: which rows, their key and their ``lastmod``."""

    source: str
    key: str
    at: str


SITEMAP_KINDS = {
    "vehicles": SitemapKind(f"{VISIBLE} WHERE v.status = 'available'", "v.vehicle_id", "v.updated_at"),
    "dealers": SitemapKind("dealers d WHERE d.deleted_at IS NULL", "d.dealer_id", "d.updated_at"),
}


async def sitemap_chunks(conn: Any, kind: str, size: int) -> list[tuple[str, Any]]:
    """``(first key, newest lastmod)`` of each run of ``size`` rows in key order."""
    k = SITEMAP_KINDS[kind]
    rows = await conn.fetch(
        f"""SELECT min(id) AS first, max(at) AS lastmod FROM (
                SELECT {k.key} AS id, {k.at} AS at, (row_number() OVER (ORDER BY {k.key}) - 1) / $1 AS chunk
                FROM {k.source}) s
            GROUP BY chunk ORDER BY chunk""",  # noqa: S608 (constants only)
        size,
    )
    return [(row["first"], row["lastmod"]) for row in rows]


async def sitemap_entries(conn: Any, kind: str, first: str, size: int) -> list[tuple[str, Any]]:
    k = SITEMAP_KINDS[kind]
    rows = await conn.fetch(
        f"SELECT {k.key} AS id, {k.at} AS at FROM {k.source} AND {k.key} >= $1 ORDER BY {k.key} LIMIT $2",  # noqa: S608
        first,
        size,
    )
    return [(row["id"], row["at"]) for row in rows]
