"""GET /v1/vehicles and /v1/vehicles/{id}: every filter, keyset pages that stay stable
while rows change underneath, invisible vehicles of deleted dealers, problem+json errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
import pytest

from od.events import VehicleRecord
from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]


async def items(api: Api, query: str) -> list[dict[str, Any]]:
    async with api.get("/v1/vehicles" + query) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    return body["items"]


async def ids(api: Api, query: str) -> list[str]:
    return [item["vehicle_id"] for item in await items(api, query)]


async def all_pages(api: Api, query: str, between: Any = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    sep = "&" if "?" in query else "?"
    for page in range(1000):
        url = "/v1/vehicles" + query + (f"{sep}cursor={cursor}" if cursor else "")
        async with api.get(url) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        seen += [item["vehicle_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between(page)
    raise AssertionError("pagination did not end")


@pytest.fixture
async def fleet(db: asyncpg.Pool) -> dict[str, str]:
    await add_dealer(db, "alpha")
    await add_dealer(db, "beta")
    await add_dealer(db, "gone", deleted=True)
    v = {
        "civic": await add_vehicle(db, "alpha", vin(1)),
        "accord": await add_vehicle(
            db, "alpha", vin(2), model="Accord", year=2018, price=Decimal("15000.00"), condition="new"
        ),
        "camry": await add_vehicle(
            db,
            "beta",
            vin(3),
            make="Toyota",
            model="Camry",
            year=2024,
            price=Decimal("31000.00"),
            condition="certified",
        ),
        "sold": await add_vehicle(db, "beta", vin(4), status="sold"),
        "stock": await add_vehicle(db, "beta", "stock:A/7 b#1", make="Ford", model="F-150", year=None, price=None),
        "hidden": await add_vehicle(db, "gone", vin(5)),
        "orphan": await add_vehicle(db, "nodealer", vin(6)),
    }
    return v


async def test_default_lists_available_vehicles_of_visible_dealers(api: Api, fleet: dict[str, str]) -> None:
    got = await items(api, "")
    assert [i["vehicle_id"] for i in got] == sorted([fleet["civic"], fleet["accord"], fleet["camry"], fleet["stock"]])
    for item in got:
        msgspec.convert(item, VehicleRecord)  # the public record, as the event embeds it
    civic = next(i for i in got if i["vehicle_id"] == fleet["civic"])
    assert civic["price"] == "23995.00" and civic["sources"] == ["homenet"] and civic["status"] == "available"
    assert civic["first_seen_at"].endswith("Z")


FILTER_CASES = [
    ("?dealer_id=beta", ["camry", "stock"]),
    (f"?vin={vin(3).lower()}", ["camry"]),
    ("?make=hONDA", ["civic", "accord"]),
    ("?make=honda&model=ACCORD", ["accord"]),
    ("?model=camry", ["camry"]),
    ("?year_min=2020", ["civic", "camry"]),
    ("?year_max=2020", ["accord"]),
    ("?year_min=2018&year_max=2018", ["accord"]),
    ("?price_min=20000", ["civic", "camry"]),
    ("?price_max=23995", ["civic", "accord"]),
    ("?price_min=15000.00&price_max=15000", ["accord"]),
    ("?condition=new", ["accord"]),
    ("?condition=certified", ["camry"]),
    ("?status=sold", ["sold"]),
    ("?status=available&dealer_id=gone", []),
    (f"?vin={vin(5)}", []),
]


async def test_filters(api: Api, fleet: dict[str, str]) -> None:
    for query, expected in FILTER_CASES:
        assert await ids(api, query) == sorted(fleet[name] for name in expected), query


async def test_pages_cover_everything_once(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    created = sorted([await add_vehicle(db, "alpha", vin(n)) for n in range(23)])
    assert await all_pages(api, "?limit=5") == created
    assert await all_pages(api, "?limit=23") == created
    assert await all_pages(api, "?limit=200&make=honda") == created


async def test_pages_stay_stable_while_rows_change(api: Api, db: asyncpg.Pool) -> None:
    """Rows inserted, updated and removed between pages: every row that existed throughout
    is returned exactly once, nothing is repeated."""
    await add_dealer(db, "alpha")
    await add_dealer(db, "beta")
    throughout = sorted([await add_vehicle(db, "alpha", vin(n)) for n in range(10, 40)])
    doomed = [await add_vehicle(db, "beta", vin(n)) for n in range(40, 45)]
    counter = iter(range(100, 1000))

    async def churn(page: int) -> None:
        # New rows sorting before and after the cursor, updates of seen and unseen rows,
        # a row sold and one moved to sold and back.
        await add_vehicle(db, "alpha", vin(next(counter)))
        await add_vehicle(db, "zeta-later", vin(next(counter)))
        await add_vehicle(db, "aaa-earlier", vin(next(counter)))
        for vid in throughout[page::7]:
            await db.execute("UPDATE vehicles SET price = price + 1, updated_at = now() WHERE vehicle_id = $1", vid)
        if page < len(doomed):
            await db.execute("UPDATE vehicles SET status = 'sold' WHERE vehicle_id = $1", doomed[page])

    seen = await all_pages(api, "?limit=4", between=churn)
    assert len(seen) == len(set(seen)), "a vehicle was repeated"
    assert seen == sorted(seen)
    assert set(throughout) <= set(seen), "a vehicle that existed throughout was skipped"


async def test_cursor_is_bound_to_its_query(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    for n in range(3):
        await add_vehicle(db, "alpha", vin(n))
    async with api.get("/v1/vehicles?limit=1&make=honda") as resp:
        cursor = (await resp.json())["next_cursor"]
    async with api.get(f"/v1/vehicles?limit=2&make=honda&cursor={cursor}") as resp:
        assert resp.status == 200  # the page size may change between pages
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for query in (
        f"?make=toyota&cursor={cursor}",  # another query's cursor
        f"?make=honda&cursor={tampered}",
        f"?make=honda&cursor={cursor[:10]}",
        "?cursor=%%%",
        "?cursor=",
    ):
        await expect_problem(api, "/v1/vehicles" + query, "cursor")
    async with api.get(f"/v1/vehicles/nearby?lat=40&lng=-75&radius_km=5&make=honda&cursor={cursor}") as resp:
        assert resp.status == 400  # another endpoint's cursor


async def expect_problem(api: Api, path: str, parameter: str, status: int = 400) -> dict[str, Any]:
    async with api.get(path) as resp:
        assert resp.status == status, (path, await resp.text())
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
    assert body["status"] == status and body["title"]
    assert [p["name"] for p in body["invalid-params"]] == [parameter], body
    assert parameter in body["detail"]
    return body


BAD_PARAMETERS = [
    ("?limit=201", "limit"),
    ("?limit=0", "limit"),
    ("?limit=ten", "limit"),
    ("?year_min=abc", "year_min"),
    ("?year_min=1700", "year_min"),
    ("?year_min=2020&year_max=2010", "year_min"),
    ("?price_min=-1", "price_min"),
    ("?price_max=nan", "price_max"),
    ("?price_max=1e400", "price_max"),
    ("?condition=broken", "condition"),
    ("?status=stolen", "status"),
    ("?dealer_id=Not%20A%20Dealer", "dealer_id"),
    ("?vin=123", "vin"),
    ("?make=", "make"),
    ("?colour=red", "colour"),
    ("?make=a&make=b", "make"),
    ("?model=%00", "model"),
]


async def test_bad_parameters_are_named_problems(api: Api) -> None:
    for query, parameter in BAD_PARAMETERS:
        await expect_problem(api, "/v1/vehicles" + query, parameter)


INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE vehicles; --",
    "honda' UNION SELECT * FROM dealers --",
    "\\' OR 1=1 --",
    "%27%20OR%201%3D1",
    "$1",
    "\x00",
    "1) OR (1=1",
]


FILTERS = ["dealer_id", "vin", "make", "model", "year_min", "year_max", "price_min", "price_max", "condition",
           "status", "limit", "cursor"]  # fmt: skip


async def test_sql_injection_is_refused_or_harmless(api: Api, fleet: dict[str, str]) -> None:
    for name in FILTERS:
        for attack in INJECTIONS:
            async with api.get("/v1/vehicles", params={name: attack}) as resp:
                assert resp.status in (200, 400), (name, attack, resp.status)
                if resp.status == 200:
                    assert (await resp.json())["items"] == []
    async with api.get("/v1/vehicles") as resp:
        assert len((await resp.json())["items"]) == 4  # nothing was dropped


async def test_one_vehicle(api: Api, fleet: dict[str, str]) -> None:
    for name in ("civic", "sold", "stock"):
        async with api.get("/v1/vehicles/" + quote(fleet[name], safe=":")) as resp:
            assert resp.status == 200, fleet[name]
            assert resp.headers["Vary"] == "Accept"
            record = msgspec.convert(await resp.json(), VehicleRecord)
        assert record.vehicle_id == fleet[name]
    assert record.stock_number == "A/7 b#1" and record.vin is None
    for path in ("beta:NOPE", quote(fleet["hidden"], safe=":"), quote(fleet["orphan"], safe=":"), "x"):
        async with api.get("/v1/vehicles/" + path) as resp:
            assert resp.status == 404 if path != "x" else resp.status in (400, 404)
            assert resp.content_type == "application/problem+json"


async def test_postgres_writes_each_record_as_the_encoder_does(api: Api, db: asyncpg.Pool) -> None:
    """Listings and feeds send the JSON Postgres builds (``store.VEHICLE_JSON``); the single
    vehicle endpoint encodes a ``VehicleRecord``. Both must say the same, for every kind of value."""
    await add_dealer(db, "d1")
    odd = {
        "vin": None,
        "stock_number": 'A"1\\\\é',
        "description": "Line 1\nLine 2\t\u2603 \U0001f697 </script>",
        "images": [],
        "options": ["Sunroof", 'Heated "seats"'],
        "price": Decimal("1234567890.05"),
        "msrp": None,
        "mileage": 0,
        "date_in_stock": date(2026, 2, 28),
        "first_seen_at": datetime(2026, 1, 1, 0, 0, 0, 120_000, tzinfo=UTC),
        "sold_at": None,
        "short_url": "https://od.example/x",
        "warnings": '[{"field": "vin", "code": "check_digit", "detail": "VIN check digit does not match"}]',
    }
    ids = [await add_vehicle(db, "d1", "stock:odd", **odd), await add_vehicle(db, "d1", vin(7))]
    async with api.get("/v1/vehicles?dealer_id=d1") as resp:
        listed = (await resp.json())["items"]
    async with api.get("/v1/feeds/vehicles.ndjson") as resp:
        fed = [json.loads(line) for line in (await resp.text()).splitlines()]
    for vehicle_id, from_list, from_feed in zip(sorted(ids), listed, fed, strict=True):
        async with api.get(f"/v1/vehicles/{quote(vehicle_id, safe='')}") as resp:
            one = await resp.json()
        assert from_list == one == from_feed
        msgspec.convert(from_list, VehicleRecord)  # and it is a valid record
    times = {item["vehicle_id"]: item["first_seen_at"] for item in listed}
    assert times == {ids[0]: "2026-01-01T00:00:00.120000Z", ids[1]: "2026-11-01T12:00:00Z"}
