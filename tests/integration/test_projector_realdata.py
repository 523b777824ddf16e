"""Sold detection on 32 real daily crawls of ~11 Seattle-area Toyota dealers
(../shared/realdata/listings/jkomskis-rav4-daily-snapshots/, read in place, never copied).

Each day is replayed as the observations of the dealers in that day's file plus one
``FeedCompleted`` per dealer present. Dealers drop out of the crawl for days at a time (partial
pulls): they must sell nothing. A VIN gone from its dealer's complete pull is sold, a returning
one relisted, and the final tables do not depend on the order the days are delivered in.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from od.config import Settings
from od.events import FeedCompleted, VehicleObserved, vehicle_key
from od.projections.vehicles import VehicleStore
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.conftest import shared_path
from tests.integration.projection_support import VOLATILE, running, settle, snapshot

SOURCE = "scrape"
VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
Day = list[VehicleObserved | FeedCompleted]


def dealer_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def observation(row: dict[str, Any], dealer: str, at: datetime, run_id: str) -> VehicleObserved | None:
    """A crawl row as a scraper would publish it (the placeholder VINs with I/O/Q are not VINs:
    such a car is known by its stock number, or not at all)."""
    vin = (row.get("vin") or "").strip().upper()
    vin = vin if VIN.match(vin) else None
    stock = (row.get("stock_number") or "").strip() or None
    if vin is None and stock is None:
        return None
    key = vehicle_key(vin, stock)

    def money(value: object) -> str | None:
        return f"{float(value):.2f}" if isinstance(value, int | float) and value > 100 else None

    return msgspec.convert(
        {
            "event_id": f"{dealer}-{run_id}-{key}",
            "occurred_at": at,
            "dealer_id": dealer,
            "source": SOURCE,
            "run_id": run_id,
            "vin": vin,
            "stock_number": stock,
            "year": int(row["year"]) if row.get("year") else None,
            "make": "Toyota",
            "model": "RAV4",
            "trim": row.get("trim"),
            "drivetrain": row.get("drivetrain"),
            "exterior_color": row.get("exterior_color"),
            "interior_color": row.get("interior_color"),
            "condition": "new",
            "msrp": money(row.get("msrp")),
            "price": money(row.get("total_price")),
            "dealer_url": row.get("detail_url"),
        },
        VehicleObserved,
    )


def load_day(path: Path) -> tuple[date, Day, set[str]]:
    day = datetime.strptime(path.name, "inventory_%Y_%m_%d.json.gz").date()
    start = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    rows = json.loads(gzip.decompress(path.read_bytes()))
    observations: dict[str, VehicleObserved] = {}
    keys: dict[str, list[str]] = defaultdict(list)
    for i, row in enumerate(rows):
        dealer = dealer_id(row["dealer_name"])
        keys.setdefault(dealer, [])
        event = observation(row, dealer, start + timedelta(seconds=i), day.isoformat())
        if event is not None and event.event_id not in observations:
            observations[event.event_id] = event
            keys[dealer].append(event.key)
    completions = [
        FeedCompleted(
            event_id=f"fc-{dealer}-{day}",
            occurred_at=start + timedelta(hours=6),
            dealer_id=dealer,
            source=SOURCE,
            run_id=day.isoformat(),
            keys=sorted(set(dealer_keys)),
        )
        for dealer, dealer_keys in sorted(keys.items())
    ]
    return day, [*observations.values(), *completions], set(keys)


@pytest.fixture(scope="module")
def days() -> list[tuple[date, Day, set[str]]]:
    folder = shared_path("realdata/listings/jkomskis-rav4-daily-snapshots")
    return [load_day(p) for p in sorted(folder.glob("inventory_*.json.gz"))]


@pytest.fixture
async def runtime(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, name="od-test-realdata", pool_size=6)
    yield rt
    await rt.close()


def expected_history(days: list[tuple[date, Day, set[str]]]) -> tuple[dict[str, str], int, int]:
    """From the crawls alone: each vehicle's final status, and how many sales and relistings."""
    status: dict[str, str] = {}
    sold = relisted = 0
    for _, events, present in days:
        seen = {e.vehicle_id for e in events if isinstance(e, VehicleObserved)}
        for vid in seen:
            if status.get(vid) == "sold":
                relisted += 1
            status[vid] = "available"
        for vid, st in status.items():
            if st == "available" and vid not in seen and vid.split(":", 1)[0] in present:
                status[vid] = "sold"
                sold += 1
    return status, sold, relisted


async def test_partial_pulls_sell_nothing_and_delivery_order_does_not_matter(
    runtime: Runtime, days: list[tuple[date, Day, set[str]]]
) -> None:
    all_dealers = set().union(*(present for _, _, present in days))
    store = VehicleStore()
    emitted: dict[str, int] = defaultdict(int)
    partial_days = 0
    for day, events, present in days:
        absent = all_dealers - present
        if absent:
            on_sale = await runtime.pool.fetchval(
                "SELECT count(*) FROM vehicles WHERE status = 'available' AND dealer_id = ANY($1::text[])",
                sorted(absent),
            )
            partial_days += on_sale > 0
        async with runtime.pool.acquire() as conn, conn.transaction():
            changes = await store.apply(conn, events)
        assert not [c for c in changes if c.dealer_id in absent], f"{day}: a dealer missing from the crawl changed"
        for c in changes:
            emitted[c.change] += 1
    assert partial_days >= 5  # the real crawls drop dealers that have cars on sale

    expected, sold, relisted = expected_history(days)
    statuses = dict(await runtime.pool.fetch("SELECT vehicle_id, status FROM vehicles"))
    assert statuses == expected
    assert emitted["sold"] == sold and emitted["relisted"] == relisted
    assert sold > 100 and relisted > 0 and emitted["created"] == len(expected)
    in_order = await snapshot(runtime.pool, drop=VOLATILE)

    # The same days, shuffled, through NATS and the projector.
    await runtime.pool.execute("TRUNCATE vehicles, vehicle_observations, feed_completions, vehicle_changes_outbox")
    shuffled = list(days)
    random.Random(20260309).shuffle(shuffled)
    for _, events, _ in shuffled:
        await runtime.publisher.publish_all(events)
    async with running(runtime, relay=False):
        await settle(runtime, seconds=60, outbox=False)
    assert await snapshot(runtime.pool, drop=VOLATILE) == in_order
