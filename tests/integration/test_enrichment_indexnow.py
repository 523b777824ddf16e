"""IndexNow pings against a real local IndexNow endpoint fake; metrics read back."""

from __future__ import annotations

import asyncio

import asyncpg
from nats.aio.client import Client as NatsClient
from prometheus_client import CollectorRegistry

from od.config import Settings
from od.enrichment.batching import sitemap_url, vehicle_url
from od.enrichment.metrics import EnrichmentCollector
from od.events import Subjects, VehicleChanged
from od.fakes.indexnow import FakeIndexNow
from od.fakes.server import Fault
from od.streams import StreamsFile
from tests.integration.enrichment_support import changed, counter, running, runtime_for, wait_for

BASE = "https://cars.example.org"
KEY = "0f8e1c2d3b4a59687766554433221100"


def ping_settings(settings: Settings, fake: FakeIndexNow, flush: float = 0.3) -> Settings:
    return settings.replace(
        public_base_url=BASE,
        indexnow_key=KEY,
        indexnow_endpoint=fake.endpoint,
        indexnow_flush_interval_s=flush,
        enrichment_max_attempts=3,
        enrichment_retry_base_s=0.1,
    )


async def all_acked(nc: NatsClient, subjects: Subjects) -> bool:
    info = await nc.jetstream().consumer_info(subjects.stream("OD_CHANGES"), "indexnow")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_batches_of_at_most_10000_deduplicated_with_sold_vehicles(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    events: list[VehicleChanged] = []
    events += [changed(f"d1:V{i}", "created") for i in range(100)]
    events += [changed(f"d1:V{i}", "updated", fields=["price"]) for i in range(100)]  # duplicates
    events += [changed(f"d1:S{i}", "sold") for i in range(10)]
    events += [changed("d1:quiet", "updated", fields=["sources", "warnings"])]  # nothing public
    events += [changed(f"d2:W{i}", "created", dealer_id="d2") for i in range(10_000)]
    async with FakeIndexNow(key=KEY) as fake, runtime_for(ping_settings(settings, fake, flush=1.0)) as rt:
        assert await rt.publisher.publish_all(events) == len(events)
        async with running(rt, "indexnow"):
            await wait_for(lambda: all_acked(rt.nc, rt.subjects), within=30, what="every change acknowledged")

        sizes = [len(s.urls) for s in fake.submissions]
        assert sizes == [10_000, 112], "as few requests as 10,000 URLs each allow"
        assert len(fake.requests) == 2
        for submission in fake.submissions:
            assert len(set(submission.urls)) == len(submission.urls), "deduplicated"
            assert (submission.host, submission.key) == ("cars.example.org", KEY)
            assert submission.key_location == f"{BASE}/{KEY}.txt"
        expected = {vehicle_url(BASE, e.vehicle_id) for e in events if e.vehicle_id != "d1:quiet"}
        assert set(fake.urls) == expected | {sitemap_url(BASE)}
        assert vehicle_url(BASE, "d1:S3") in fake.urls, "sold vehicles are submitted too"
        assert fake.urls.count(sitemap_url(BASE)) == 2, "the sitemap once per request"

        assert await counter(db, "indexnow", "done") == len(events)
        assert await counter(db, "indexnow", "urls_submitted") == 10_112
        assert await counter(db, "indexnow", "not_public") == 1

        collector = EnrichmentCollector()
        registry = CollectorRegistry()
        registry.register(collector)
        await collector.refresh(rt.nc, rt.pool, rt.subjects)
    assert registry.get_sample_value("od_enrichment_done_total", {"worker": "indexnow"}) == len(events)
    assert registry.get_sample_value("od_enrichment_queue_depth", {"worker": "indexnow"}) == 0
    assert registry.get_sample_value("od_enrichment_oldest_pending_seconds", {"worker": "indexnow"}) == 0
    assert registry.get_sample_value("od_enrichment_queue_depth", {"worker": "shortlinks"}) == len(events)
    age = registry.get_sample_value("od_enrichment_oldest_pending_seconds", {"worker": "shortlinks"})
    assert age is not None and 0 < age < 120
    outcome = {"worker": "indexnow", "outcome": "requests_accepted"}
    assert registry.get_sample_value("od_enrichment_outcomes_total", outcome) == 2


async def test_rate_limited_then_accepted(settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool) -> None:
    events = [changed(f"d1:V{i}", "created") for i in range(5)]
    fault = Fault(status=429, retry_after="1", times=1)
    async with FakeIndexNow(key=KEY, fault=fault) as fake, runtime_for(ping_settings(settings, fake)) as rt:
        async with running(rt, "indexnow"):
            await rt.publisher.publish_all(events)
            await wait_for(lambda: _submitted(fake), what="a submission after the 429")
            await wait_for(lambda: all_acked(rt.nc, rt.subjects), what="every change acknowledged")
    first, second = fake.requests
    assert second.at - first.at >= 1.0, "waited for Retry-After"
    assert first.body == second.body, "the same URLs again"
    assert sorted(fake.urls) == sorted([vehicle_url(BASE, e.vehicle_id) for e in events] + [sitemap_url(BASE)])
    assert await counter(db, "indexnow", "requests_rate_limited") == 1
    assert await counter(db, "indexnow", "dead_lettered") == 0


async def _submitted(fake: FakeIndexNow) -> bool:
    return bool(fake.submissions)


async def test_configuration_error_is_not_retried(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    events = [changed(f"d1:V{i}", "created") for i in range(3)]
    async with FakeIndexNow(key=KEY, fault=Fault(status=422)) as fake, runtime_for(ping_settings(settings, fake)) as rt:
        async with running(rt, "indexnow"):
            await rt.publisher.publish_all(events)
            await wait_for(lambda: _dead_letters(db, 3), what="three dead letters")
            await wait_for(lambda: all_acked(rt.nc, rt.subjects), what="nothing left to deliver")
            await asyncio.sleep(3 * 0.3)  # three flush intervals: a retry loop would have shown by now
    assert len(fake.requests) == 1
    reasons = {r["reason"] for r in await db.fetch("SELECT reason FROM dead_letters WHERE consumer = 'indexnow'")}
    assert reasons == {"IndexNow refused the batch: 422 fault: HTTP 422"}
    assert await counter(db, "indexnow", "config_errors") == 1
    assert await counter(db, "indexnow", "retried") == 0


async def _dead_letters(db: asyncpg.Pool, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(*) >= $1 FROM dead_letters WHERE consumer = 'indexnow'", n))
