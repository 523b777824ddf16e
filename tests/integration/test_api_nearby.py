"""GET /v1/vehicles/nearby: great-circle distance, nearest first, across the antimeridian
and near a pole, with the vehicle filters and stable keyset pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from od.api.geo import haversine_km
from od.api.views import NearbyVehicle
from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin
from tests.integration.test_api_vehicles import expect_problem

__all__ = ["api"]


async def nearby(api: Api, lat: float, lng: float, radius_km: float, extra: str = "") -> list[dict[str, Any]]:
    async with api.get(f"/v1/vehicles/nearby?lat={lat}&lng={lng}&radius_km={radius_km}{extra}") as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    for item in body["items"]:
        msgspec.convert(item, NearbyVehicle)
    return body["items"]


async def every_page(api: Api, path: str, between_pages: Callable[[int], Awaitable[None]] | None = None) -> list[str]:
    """The vehicle ids of every page of ``path``, following ``next_cursor``."""
    seen: list[str] = []
    cursor = ""
    while True:
        async with api.get(path + cursor) as resp:
            body = await resp.json()
        seen += [i["vehicle_id"] for i in body["items"]]
        if body["next_cursor"] is None:
            return seen
        cursor = f"&cursor={body['next_cursor']}"
        if between_pages is not None:
            await between_pages(len(seen))


async def test_nearest_first_with_exact_distances(api: Api, db: asyncpg.Pool) -> None:
    # Around Philadelphia (39.95, -75.16).
    places = {"center": (39.95, -75.16), "camden": (39.93, -75.12), "trenton": (40.22, -74.76), "nyc": (40.71, -74.0)}
    for n, (name, (lat, lng)) in enumerate(places.items()):
        await add_dealer(db, name, lat=lat, lng=lng)
        await add_vehicle(db, name, vin(n))
    await add_dealer(db, "nowhere", lat=None, lng=None)
    await add_vehicle(db, "nowhere", vin(9))
    await add_dealer(db, "gone", lat=39.95, lng=-75.16, deleted=True)
    await add_vehicle(db, "gone", vin(10))

    got = await nearby(api, 39.95, -75.16, 60)
    assert [i["dealer_id"] for i in got] == ["center", "camden", "trenton"]
    for item in got:
        lat, lng = places[item["dealer_id"]]
        assert item["distance_km"] == pytest.approx(haversine_km(39.95, -75.16, lat, lng), abs=1e-6)
    assert got[0]["distance_km"] == pytest.approx(0, abs=1e-9)
    assert [i["dealer_id"] for i in await nearby(api, 39.95, -75.16, 500)] == ["center", "camden", "trenton", "nyc"]
    assert await nearby(api, 39.95, -75.16, 500, "&make=toyota") == []
    assert [i["dealer_id"] for i in await nearby(api, 39.95, -75.16, 500, "&year_min=2021&dealer_id=nyc")] == ["nyc"]


async def test_across_the_antimeridian(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "fiji-east", lat=-17.0, lng=179.9)
    await add_dealer(db, "fiji-west", lat=-17.0, lng=-179.9)  # ~21 km east of fiji-east, across 180°
    await add_dealer(db, "samoa", lat=-13.83, lng=-171.76)  # Apia, ~900 km away
    for n, dealer in enumerate(("fiji-east", "fiji-west", "samoa")):
        await add_vehicle(db, dealer, vin(n))
    from_east = await nearby(api, -17.0, 179.95, 50)
    assert [i["dealer_id"] for i in from_east] == ["fiji-east", "fiji-west"]
    assert [round(i["distance_km"], 1) for i in from_east] == [5.3, 16.0]
    from_west = await nearby(api, -17.0, -179.99, 50)
    assert [i["dealer_id"] for i in from_west] == ["fiji-west", "fiji-east"]
    assert [round(i["distance_km"], 1) for i in from_west] == [9.6, 11.7]
    assert [i["dealer_id"] for i in await nearby(api, -14.0, -172.0, 50)] == ["samoa"]


async def test_near_a_pole(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "across", lat=89.5, lng=179.0)  # over the pole: ~67 km from (89.9, 0)
    await add_dealer(db, "south", lat=88.0, lng=0.0)  # ~211 km
    await add_dealer(db, "antarctic", lat=-89.9, lng=45.0)
    for n, dealer in enumerate(("across", "south", "antarctic")):
        await add_vehicle(db, dealer, vin(n))
    assert [i["dealer_id"] for i in await nearby(api, 89.9, 0.0, 100)] == ["across"]
    assert [i["dealer_id"] for i in await nearby(api, 89.9, 0.0, 250)] == ["across", "south"]
    assert [i["dealer_id"] for i in await nearby(api, 90.0, 0.0, 250)] == ["across", "south"]
    assert [i["dealer_id"] for i in await nearby(api, -90.0, -180.0, 20)] == ["antarctic"]


async def test_pages_by_distance_then_vehicle_id(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "near", lat=10.0, lng=10.0)
    await add_dealer(db, "twin", lat=10.0, lng=10.0)  # same distance: ties by vehicle_id across dealers
    await add_dealer(db, "far", lat=10.5, lng=10.0)
    expected = []
    for dealer in ("near", "twin", "far"):
        for n in range(4):
            expected.append(await add_vehicle(db, dealer, vin(n)))
    expected = sorted(expected[:8]) + expected[8:]
    path = "/v1/vehicles/nearby?lat=10&lng=10.01&radius_km=100&limit=3"

    async def churn(seen: int) -> None:  # between pages: changes that are filtered out
        await add_vehicle(db, "near", vin(100 + seen), status="sold")

    assert await every_page(api, path, between_pages=churn) == expected
    async with api.get(path) as resp:
        cursor = (await resp.json())["next_cursor"]
    async with api.get(f"/v1/vehicles/nearby?lat=10&lng=10.02&radius_km=100&limit=3&cursor={cursor}") as resp:
        assert resp.status == 400  # a cursor belongs to its circle


async def test_pages_across_growing_circles_equal_one_sort_of_the_whole_circle(api: Api, db: asyncpg.Pool) -> None:
    """The search widens from 50 km (od.api.store.FIRST_RING_KM) to 200 km and then 500: pages
    that cross its circles give what sorting everything within the radius gives."""
    center = (45.0, -93.0)
    expected: list[tuple[float, str]] = []
    for n, km in enumerate([3, 20, 48, 52, 60, 99, 101, 180, 196, 204, 390, 420, 499, 520]):
        lat = center[0] + km / 111.195  # due north: ~111.195 km a degree of latitude
        await add_dealer(db, f"d{n}", lat=lat, lng=center[1])
        for k in range(2):
            vehicle_id = await add_vehicle(db, f"d{n}", vin(10 * n + k))
            distance = haversine_km(*center, lat, center[1])
            if distance <= 500:
                expected.append((distance, vehicle_id))
    for limit in (1, 3, 7):
        seen = await every_page(api, f"/v1/vehicles/nearby?lat=45&lng=-93&radius_km=500&limit={limit}")
        assert seen == [vehicle_id for _, vehicle_id in sorted(expected)], limit


async def test_bad_parameters(api: Api) -> None:
    base = "/v1/vehicles/nearby"
    for query, name in [
        ("?lat=abc&lng=0&radius_km=1", "lat"),
        ("?lat=91&lng=0&radius_km=1", "lat"),
        ("?lat=0&lng=-180.5&radius_km=1", "lng"),
        ("?lat=0&lng=0&radius_km=0", "radius_km"),
        ("?lat=0&lng=0&radius_km=-3", "radius_km"),
        ("?lat=0&lng=0&radius_km=501", "radius_km"),
        ("?lat=0&lng=0&radius_km=inf", "radius_km"),
        ("?lng=0&radius_km=1", "lat"),
        ("?lat=0&lng=0&radius_km=1&limit=201", "limit"),
        ("?lat=0&lng=0&radius_km=1&condition=old", "condition"),
        ("?lat=0&lng=0&radius_km=1&sort=price", "sort"),
    ]:
        await expect_problem(api, base + query, name)
