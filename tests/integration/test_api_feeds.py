"""NDJSON feeds: streamed lines of VehicleRecord, validators from the projection state,
304s, per dealer, and connections given back however a stream ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.utils import format_datetime

import asyncpg
import msgspec
from multidict import CIMultiDict

from od.events import VehicleRecord
from tests.integration.api_fixtures import T0, Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]

FEED = "/v1/feeds/vehicles.ndjson"


async def lines(api: Api, path: str = FEED) -> tuple[list[VehicleRecord], CIMultiDict[str]]:
    async with api.get(path) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/x-ndjson"
        body = await resp.read()
        headers = resp.headers.copy()
    assert body == b"" or body.endswith(b"\n")
    return [msgspec.json.decode(line, type=VehicleRecord) for line in body.splitlines()], headers


async def test_feed_streams_available_visible_vehicles(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    await add_dealer(db, "gone", deleted=True)
    rows = [
        (f"alpha:{vin(n)}", "alpha", vin(n), "sold" if n % 10 == 0 else "available", T0 + timedelta(seconds=n))
        for n in range(2500)
    ] + [(f"gone:{vin(1)}", "gone", vin(1), "available", T0)]
    await db.copy_records_to_table(
        "vehicles",
        records=[(*r, T0, ["homenet"]) for r in rows],
        columns=["vehicle_id", "dealer_id", "vin", "status", "updated_at", "first_seen_at", "sources"],
    )
    records, headers = await lines(api)
    expected = sorted(r[0] for r in rows if r[1] == "alpha" and r[3] == "available")
    assert [r.vehicle_id for r in records] == expected
    assert headers["Last-Modified"] == format_datetime(T0 + timedelta(seconds=2499), usegmt=True)
    assert headers["ETag"].startswith('W/"')


async def test_etag_and_last_modified_answer_304(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    await add_dealer(db, "beta")
    await add_vehicle(db, "alpha", vin(1))
    await add_vehicle(db, "beta", vin(2))
    _, headers = await lines(api)
    etag, modified = headers["ETag"], headers["Last-Modified"]

    async def status(**h: str) -> int:
        async with api.get(FEED, headers=h) as resp:
            if resp.status == 304:
                assert resp.headers["ETag"] == etag and resp.headers["Cache-Control"] and resp.headers["Date"]
                assert await resp.read() == b""
            return resp.status

    assert await status(**{"If-None-Match": etag}) == 304
    assert await status(**{"If-None-Match": f'"other", {etag.removeprefix("W/")}'}) == 304
    assert await status(**{"If-None-Match": "*"}) == 304
    assert await status(**{"If-Modified-Since": modified}) == 304
    assert await status(**{"If-Modified-Since": format_datetime(T0 - timedelta(seconds=1), usegmt=True)}) == 200
    assert await status(**{"If-None-Match": '"stale"', "If-Modified-Since": modified}) == 200  # ETag wins
    assert await status(**{"If-Modified-Since": "not a date"}) == 200

    # Every kind of change moves the ETag.
    seen = {etag}
    for change in (
        "UPDATE vehicles SET price = 1, updated_at = updated_at + interval '1 second' WHERE dealer_id = 'alpha'",
        "UPDATE vehicles SET status = 'sold', updated_at = updated_at + interval '1 second' WHERE dealer_id = 'beta'",
        "UPDATE dealers SET deleted_at = now(), updated_at = now() WHERE dealer_id = 'alpha'",
    ):
        await db.execute(change)
        _, headers = await lines(api)
        assert headers["ETag"] not in seen, change
        seen.add(headers["ETag"])
    records, _ = await lines(api)
    assert records == []


async def test_per_dealer_feed(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    await add_dealer(db, "beta")
    await add_dealer(db, "gone", deleted=True)
    await add_vehicle(db, "alpha", vin(1))
    await add_vehicle(db, "beta", vin(2))
    records, headers = await lines(api, "/v1/feeds/dealers/beta/vehicles.ndjson")
    assert [r.vehicle_id for r in records] == [f"beta:{vin(2)}"]
    async with api.get("/v1/feeds/dealers/beta/vehicles.ndjson", headers={"If-None-Match": headers["ETag"]}) as resp:
        assert resp.status == 304
    for dealer, status in (("gone", 404), ("nobody", 404), ("Bad!", 400)):
        async with api.get(f"/v1/feeds/dealers/{dealer}/vehicles.ndjson") as resp:
            assert resp.status == status
            assert resp.content_type == "application/problem+json"


async def test_connections_come_back_however_streams_end(api: Api, db: asyncpg.Pool) -> None:
    """HEAD, 304 and abandoned streams all return their connection: more of them than the
    pool holds, then a full feed still answers."""
    await add_dealer(db, "alpha")
    await db.copy_records_to_table(
        "vehicles",
        records=[(f"alpha:{vin(n)}", "alpha", vin(n), T0, T0) for n in range(3000)],
        columns=["vehicle_id", "dealer_id", "vin", "updated_at", "first_seen_at"],
    )
    _, headers = await lines(api)
    for _ in range(12):
        async with api.http.head(api.url + FEED) as resp:
            assert resp.status == 200 and resp.headers["ETag"] == headers["ETag"]
        async with api.get(FEED, headers={"If-None-Match": headers["ETag"]}) as resp:
            assert resp.status == 304
        resp = await api.http.get(api.url + FEED)
        await resp.content.readexactly(100)
        resp.close()  # the client goes away mid-stream
    async with asyncio.timeout(10):
        records, _ = await lines(api)
    assert len(records) == 3000
