"""Dealer geocoding against a real local Nominatim-compatible fake."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from od.config import Settings
from od.enrichment.address import address_query
from od.events import Address, DealerChanged, Location
from od.fakes.geocoder import FakeNominatim
from od.fakes.server import Fault
from od.streams import StreamsFile
from tests.integration.enrichment_support import T0, counter, insert_dealer, running, runtime_for, wait_for

MAIN_ST = Address(street="1200 North Main Street", city="Seattle", region="WA", postal_code="98101", country="USA")
MAIN_ST_RETYPED = Address(street="1200 N. Main St", city="SEATTLE", region="wa", postal_code="98101-0001", country="US")
PLACE = (47.6062095, -122.3320708)


def upsert(dealer_id: str, address: Address | None, *, location: Location | None = None, at: int = 0) -> DealerChanged:
    return DealerChanged(
        dealer_id=dealer_id,
        operation="upsert",
        name=f"Dealer {dealer_id}",
        address=address,
        location=location,
        occurred_at=T0 + timedelta(minutes=at),
    )


def geo_settings(settings: Settings, fake: FakeNominatim) -> Settings:
    return settings.replace(
        geocoder_url=fake.url, geocoder_rate_per_s=100.0, enrichment_max_attempts=3, enrichment_retry_base_s=0.1
    )


async def location(db: asyncpg.Pool, dealer_id: str) -> tuple[float, float, str] | None:
    row = await db.fetchrow("SELECT lat, lng, location_source FROM dealers WHERE dealer_id = $1", dealer_id)
    return None if row is None or row["lat"] is None else (row["lat"], row["lng"], row["location_source"])


async def test_geocoded_once_per_address_and_an_explicit_location_wins(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    events = {
        "d1": upsert("d1", MAIN_ST),
        "d2": upsert("d2", MAIN_ST_RETYPED),  # the same place, typed otherwise: a cache hit
        "d3": upsert("d3", Address(street="9 Elm St", city="Tacoma", region="WA"), at=0),
        "d4": upsert("d4", Address(street="1 Pine St", city="Spokane"), location=Location(lat=47.66, lng=-117.43)),
    }
    for dealer_id in ("d1", "d2"):
        await insert_dealer(db, dealer_id, event=events[dealer_id])
    # d3's row already holds a later event's explicit location: the older event must not touch it.
    later = upsert("d3", Address(street="9 Elm St", city="Tacoma", region="WA"), at=5)
    await insert_dealer(db, "d3", event=later, explicit=(47.25, -122.44))
    async with FakeNominatim({address_query(MAIN_ST): PLACE}) as fake, runtime_for(geo_settings(settings, fake)) as rt:
        async with running(rt, "geocoder"):
            await rt.publisher.publish_all(events.values())
            await wait_for(lambda: _done(db, 4), what="four dealer changes handled")
    assert fake.queries == [address_query(MAIN_ST)]
    (request,) = fake.requests
    assert request.query["format"] == "jsonv2" and request.headers["User-Agent"].startswith("OpenDealer")
    assert await location(db, "d1") == (*PLACE, "geocoded:nominatim")
    assert await location(db, "d2") == (*PLACE, "geocoded:nominatim")
    assert await location(db, "d3") == (47.25, -122.44, "explicit")
    cached = await db.fetch("SELECT query, lat, lng, source FROM geocode_cache")
    assert [tuple(r) for r in cached] == [(address_query(MAIN_ST), *PLACE, "nominatim")]
    assert await counter(db, "geocoder", "geocoded") == 1
    assert await counter(db, "geocoder", "cache_hit") == 1
    assert await counter(db, "geocoder", "superseded") == 1
    assert await counter(db, "geocoder", "skipped") == 1


async def _done(db: asyncpg.Pool, n: int) -> bool:
    return await counter(db, "geocoder", "done") >= n


async def test_waits_for_the_dealer_projection_whichever_runs_first(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    event = upsert("d1", MAIN_ST)
    async with FakeNominatim({address_query(MAIN_ST): PLACE}) as fake, runtime_for(geo_settings(settings, fake)) as rt:
        async with running(rt, "geocoder"):
            await rt.publisher.publish(event)
            await wait_for(lambda: counter(db, "geocoder", "retried"), what="a wait for the projection")
            assert await location(db, "d1") is None
            assert not fake.requests, "no geocoding until the row exists to take it"
            await insert_dealer(db, "d1", event=event)  # the dealer projector, later
            assert await wait_for(lambda: location(db, "d1"), what="the geocode") == (*PLACE, "geocoded:nominatim")
    assert len(fake.requests) == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_geocoder_failure_retried_then_dead_lettered(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    failing, unknown = upsert("d1", MAIN_ST), upsert("d2", Address(street="0 Nowhere Rd", city="Atlantis"))
    await insert_dealer(db, "d1", event=failing)
    await insert_dealer(db, "d2", event=unknown)
    async with (
        FakeNominatim(derive_unknown=False, fault=Fault(status=503)) as fake,
        runtime_for(geo_settings(settings, fake)) as rt,
    ):
        async with running(rt, "geocoder"):
            await rt.publisher.publish(failing)
            reason = await wait_for(
                lambda: db.fetchval("SELECT reason FROM dead_letters WHERE consumer = 'geocoder'"),
                what="the dead letter",
            )
            assert reason == "gave up after 3 attempts: geocoder answered 503"
            assert len(fake.requests) == 3
            dl = await rt.nc.jetstream().get_last_msg(
                rt.subjects.stream("OD_DEADLETTER"), rt.subjects.deadletter("geocoder")
            )
            assert dl.headers is not None and dl.headers["Od-Reason"] == reason

            # An address the geocoder does not know is not retried either.
            fake.fault = None
            await rt.publisher.publish(unknown)
            await wait_for(lambda: _two(db), what="two dead letters")
    assert len(fake.requests) == 4
    reasons = [r["reason"] for r in await db.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    assert reasons[1].startswith("the geocoder found no place for '0 Nowhere Rd, Atlantis'")
    assert await location(db, "d1") is None and await location(db, "d2") is None


async def _two(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT count(*) = 2 FROM dead_letters WHERE consumer = 'geocoder'"))
