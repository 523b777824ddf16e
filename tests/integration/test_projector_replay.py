"""`od replay vehicles|dealers`: the rebuilt tables equal the live ones, and the live ones keep serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from od.config import Settings
from od.enrichment.address import address_query
from od.events import Address, DealerChanged, FeedCompleted, Location, VehicleObserved
from od.fakes.geocoder import FakeNominatim
from od.projections.replay import StreamBehind, replay, replay_vehicles
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration import enrichment_support
from tests.integration.api_fixtures import serve
from tests.integration.projection_support import (
    T0,
    completed,
    dealer,
    eventually,
    observed,
    running,
    settle,
    snapshot,
    stale_record_json,
    table,
)


@pytest.fixture
async def runtime(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, name="od-test-replay", pool_size=8)
    yield rt
    await rt.close()


def history(rounds: range, vehicles: int = 40) -> list[VehicleObserved | FeedCompleted]:
    """Two dealers, two sources, a few vehicles missing from each round's complete pulls."""
    events: list[VehicleObserved | FeedCompleted] = []
    for r in rounds:
        for d in ("d1", "d2"):
            present = [k for k in range(vehicles) if (k + r) % 7]  # each round a few are missing
            for source in ("homenet", "scrape"):
                events += [observed(k, source, 10 * r, d, price=f"{20000 + k * 10 + r}.00") for k in present]
                events.append(completed(present, source, 10 * r + 5, d))
    return events


async def test_replay_rebuilds_the_same_tables_while_the_live_ones_serve(runtime: Runtime) -> None:
    indexes_sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
    indexes_before = [tuple(r) for r in await runtime.pool.fetch(indexes_sql)]
    pub = runtime.publisher
    await pub.publish(dealer("d1", price_preference="homenet"))
    initial = await pub.publish_all(history(range(3)))
    await pub.publish_raw(runtime.subjects.vehicle_observed("d1", "homenet"), b"poison", "poison-1")
    async with running(runtime):
        await settle(runtime)
        await runtime.pool.execute("UPDATE vehicles SET short_url = 'https://sl.test/' || vehicle_id")

        reads: list[int] = []

        async def reader() -> None:
            while True:
                reads.append(await runtime.pool.fetchval("SELECT count(*) FROM vehicles"))
                await asyncio.sleep(0.01)

        async def writer() -> None:  # the stream keeps growing during the replay
            for r in range(3, 6):
                await pub.publish_all(history(range(r, r + 1)))
                await asyncio.sleep(0.05)

        read_task = asyncio.create_task(reader())
        write_task = asyncio.create_task(writer())
        result = await replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, batch=300, progress=False)
        await write_task
        read_task.cancel()
        assert result.skipped == 1 and result.events > initial
        assert reads and min(reads) == 80  # never empty, never an error while swapping

        await settle(runtime)
        live = await snapshot(runtime.pool)
        assert len(live["vehicles"]) == 80
        assert all(v["short_url"] == f"https://sl.test/{v['vehicle_id']}" for v in live["vehicles"])
        assert await stale_record_json(runtime.pool) == []  # the carried short_url is in the JSON

    # Quiet now: a second rebuild gives exactly the live tables, every column.
    await replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, batch=500, progress=False)
    assert await snapshot(runtime.pool) == live
    # The same indexes, by name and definition (those built after the bulk load included).
    assert [tuple(r) for r in await runtime.pool.fetch(indexes_sql)] == indexes_before


async def test_replay_ends_when_the_last_messages_were_deleted(runtime: Runtime) -> None:
    """Messages removed from the stream (``nats stream rmm``, limits) are never delivered: the
    replay must not wait for them for ever."""
    pub = runtime.publisher
    await pub.publish(dealer("d1"))
    await pub.publish_all([observed(k) for k in range(5)])
    js = runtime.nc.jetstream()
    stream = runtime.subjects.stream("OD_INVENTORY")
    last = (await js.stream_info(stream)).state.last_seq
    await js.delete_msg(stream, last)
    result = await asyncio.wait_for(replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, progress=False), 30)
    assert result.events == 4 and result.last_seq == last
    assert await runtime.pool.fetchval("SELECT count(*) FROM vehicles") == 4


def at(street: str) -> Address:
    return Address(street=street, city="Tacoma", region="WA", postal_code="98402", country="US")


def deleted(dealer_id: str, minute: int) -> DealerChanged:
    return DealerChanged(
        event_id=f"dc-{dealer_id}-{minute}-del",
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id=dealer_id,
        operation="delete",
    )


PINNED = Location(lat=47.25, lng=-122.44)
GEOCODED_LIVE = [  # the geocoder worker runs while these are applied
    dealer("a", 0, address=at("1 A St")),
    dealer("a", 1, address=at("1 A St"), phone="+1 253 555 0100"),  # same address: the geocode is kept
    dealer("b", 0, address=at("2 B St"), location=PINNED),
    dealer("b", 1, address=at("2 B St")),  # the admin removed the location: geocoded
    dealer("c", 0, address=at("3 C St")),
    dealer("c", 2, address=at("33 C St")),  # moved: the old geocode is dropped, the new address geocoded
    dealer("e", 0, address=at("5 E St"), location=PINNED),  # never geocoded
    dealer("h", 0, address=at("8 H St")),
    dealer("p", 0, address=at("6 P St"), price_preference="homenet"),
    dealer("p", 3, address=at("6 P St")),  # back to scrape
]


async def geocoded(db: asyncpg.Pool, *dealer_ids: str) -> bool:
    rows = await db.fetch(
        "SELECT dealer_id FROM dealers WHERE location_source LIKE 'geocoded:%' AND dealer_id = ANY($1)", dealer_ids
    )
    return len(rows) == len(dealer_ids)


async def test_replay_dealers_keeps_geocodes_tombstones_and_serves_meanwhile(
    settings: Settings, js_streams: StreamsFile
) -> None:
    async with FakeNominatim() as fake:
        geo = settings.replace(geocoder_url=fake.url, geocoder_rate_per_s=100.0, enrichment_retry_base_s=0.1)
        async with enrichment_support.runtime_for(geo) as rt, running(rt):
            pub = rt.publisher
            async with enrichment_support.running(rt, "geocoder"):
                await pub.publish_all(GEOCODED_LIVE)
                await eventually(lambda: geocoded(rt.pool, "a", "b", "c", "h", "p"))
            # The geocoder stopped: later geocodes are written straight to the table, as it would.
            future = DealerChanged(  # dead-lettered by the live projector: a replay skips it too
                dealer_id="z", operation="upsert", name="Z", occurred_at=datetime.now(UTC) + timedelta(days=1)
            )
            await pub.publish_all(
                [
                    dealer("d", 0, address=at("4 D St")),
                    deleted("d", 4),
                    deleted("t", 9),  # a dealer never seen: a tombstone...
                    dealer("t", 1, name="Too old"),  # ...that an older upsert does not bring back
                    dealer("g", 0, address=at("7 G St")),
                    dealer("h", 7, address=at("8 H St"), location=PINNED),  # an explicit location wins
                    future,
                    *(dealer(f"f{k:03}", k % 5) for k in range(200)),
                ]
            )
            await settle(rt)
            await rt.pool.execute(
                """UPDATE dealers SET lat = 46.5, lng = -120.5, location_source = 'geocoded:nominatim',
                   updated_at = now() WHERE dealer_id IN ('d', 'g')"""
            )

            statuses: list[int] = []

            async def reader(url: str, http: aiohttp.ClientSession) -> None:
                while True:
                    async with http.get(f"{url}/v1/dealers/a") as r:
                        statuses.append(r.status)
                    await asyncio.sleep(0.01)

            async def writer() -> None:  # the stream keeps growing during the replay
                for r in range(3):
                    await pub.publish_all(dealer(f"w{r}{k:02}", 20 + r) for k in range(30))
                    await asyncio.sleep(0.05)

            async with serve(settings) as url, aiohttp.ClientSession() as http:
                read_task = asyncio.create_task(reader(url, http))
                write_task = asyncio.create_task(writer())
                result = await replay("dealers", rt.pool, rt.nc, rt.subjects, batch=40, progress=False)
                await write_task
                read_task.cancel()
            assert result.skipped == 1 and result.events >= len(GEOCODED_LIVE) + 207
            assert statuses and set(statuses) == {200}  # never gone, never an error while swapping

            await settle(rt)
            live = await table(rt.pool, "dealers")
            rows = {r["dealer_id"]: r for r in live}
            assert len(rows) == 9 + 200 + 90 and "z" not in rows
            assert {d for d, r in rows.items() if (r["location_source"] or "").startswith("geocoded:")} == {*"abcdgp"}
            assert (rows["c"]["lat"], rows["c"]["lng"]) == fake.place_for(address_query(at("33 C St")))
            assert (rows["h"]["lat"], rows["h"]["lng"], rows["h"]["location_source"]) == (47.25, -122.44, "explicit")
            assert rows["e"]["location_source"] == "explicit"
            assert rows["d"]["deleted_at"] is not None and rows["t"]["deleted_at"] is not None
            assert rows["t"]["name"] == "t"

            # Quiet now: a rebuild gives exactly the live table, every column (created_at and
            # updated_at too: they say when the live projector or geocoder wrote the row).
            await replay("dealers", rt.pool, rt.nc, rt.subjects, batch=500, progress=False)
            assert await table(rt.pool, "dealers") == live
            indexes = {r["indexname"] for r in await rt.pool.fetch("SELECT indexname FROM pg_indexes")}
            assert {"dealers_pkey", "dealers_lat_lng"} <= indexes
            assert not any("rebuild" in name for name in indexes)


async def test_replay_dealers_refuses_to_drop_a_change_the_stream_lost(
    settings: Settings, js_streams: StreamsFile
) -> None:
    """OD_DEALERS is not re-fetchable: a rebuild that would lose what the table holds stops."""
    async with enrichment_support.runtime_for(settings) as rt, running(rt):
        await rt.publisher.publish_all([dealer("a", 0), dealer("b", 1)])
        await settle(rt)
        # An admin's change the projector applied, lost by the stream (power loss before fsync).
        await rt.pool.execute(
            "UPDATE dealers SET name = 'Kept', event_id = 'lost', event_at = event_at + interval '1 hour'"
            " WHERE dealer_id = 'b'"
        )
        before = await table(rt.pool, "dealers")
        with pytest.raises(StreamBehind, match=r"1 dealer\(s\) .*\(b\)"):
            await replay("dealers", rt.pool, rt.nc, rt.subjects, progress=False)
        assert await table(rt.pool, "dealers") == before
        await rt.pool.execute("DELETE FROM dealers WHERE dealer_id = 'b'")  # gone from both: fine
        await replay("dealers", rt.pool, rt.nc, rt.subjects, progress=False)
