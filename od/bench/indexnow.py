"""Enrichment benchmarks against local fakes of the providers.

``indexnow``: a backlog of VehicleChanged (realistic records, ~20 images) drained by the
IndexNow worker: requests sent (target: as few as 10,000 URLs each allow, ≤ 10 for 100,000
changes) and the time until every change is acknowledged (target ≤ 10 s), beside the bare
drain of the same messages (fetch + ack, nothing else) as the baseline.

The data: one change in twenty is a second change of a vehicle changed just before (a
price update right after it appeared), so 100,000 changes name 95,000 vehicles. Each
request also carries the sitemap URL, so 100,000 *distinct* vehicles would need
ceil(100,000 / 9,999) = 11 requests: the figure's baseline is that lower bound for the data.

``shortlinks``: links made by the url_shortening executor against a provider that allows
``R`` requests per second (429 beyond), in links/s beside ``R``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from typing import Literal

from od import bus
from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.enrichment import indexnow, shortlinks
from od.enrichment.batching import MAX_URLS, change_urls
from od.events import VehicleChanged, VehicleFields, VehicleObserved, VehicleRecord, encode_event
from od.fakes.indexnow import FakeIndexNow
from od.fakes.rebrandly import FakeRebrandly
from od.fakes.vehicle_pages import FakeVehiclePages
from od.runtime import Runtime

BASE = "https://cars.example.org"
KEY = "bench-indexnow-key-0001"
_FIELDS = VehicleFields.__struct_fields__
Change = Literal["created", "updated", "sold", "relisted"]


def _record(obs: VehicleObserved) -> VehicleRecord:
    fields = {f: getattr(obs, f) for f in _FIELDS}
    return VehicleRecord(
        **fields,
        vehicle_id=obs.vehicle_id,
        dealer_id=obs.dealer_id,
        sources=[obs.source],
        first_seen_at=obs.occurred_at,
        updated_at=obs.occurred_at,
    )


def changes(n: int) -> list[VehicleChanged]:
    """``n`` changes over 95 % as many vehicles; sold and relisted ones among them."""
    out: list[VehicleChanged] = []
    kinds: tuple[Change, ...] = ("created", "created", "created", "updated", "updated", "sold", "relisted")
    for i in range(n):
        if i % 20 == 19:  # a second change of a vehicle changed a few messages before
            prior = out[-1 - i % 7]
            again = VehicleChanged(
                dealer_id=prior.dealer_id,
                vehicle_id=prior.vehicle_id,
                change="updated",
                vehicle=prior.vehicle,
                changed_fields=["price"],
            )
            out.append(again)
            continue
        record = _record(observation(i, dealer_id=f"dealer-{i % 500}"))
        kind = kinds[i % len(kinds)]
        if kind == "sold":
            record.status = "sold"
        fields = ["price", "mileage"] if kind == "updated" else []
        out.append(
            VehicleChanged(
                dealer_id=record.dealer_id,
                vehicle_id=record.vehicle_id,
                change=kind,
                vehicle=record,
                changed_fields=fields,
            )
        )
    return out


async def _drained(rt: Runtime, durable: str) -> bool:
    info = await rt.nc.jetstream().consumer_info(rt.subjects.stream("OD_CHANGES"), durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _baseline(rt: Runtime, n: int) -> float:
    """Seconds to drain the same messages bare: fetch batches of 1,000 and ack each."""
    stream = rt.subjects.stream("OD_CHANGES")
    config = {"durable_name": "bench-baseline", "ack_policy": "explicit", "max_ack_pending": 25_000}
    await rt.nc.request(
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.bench-baseline",
        json.dumps({"stream_name": stream, "config": config}).encode(),
        timeout=10,
    )
    fetcher = await bus.InboxFetcher(rt.nc, stream, "bench-baseline").start()
    started, seen = time.perf_counter(), 0
    try:
        while seen < n:
            for msg in await fetcher.fetch(1000, 1.0):
                await msg.ack()
                seen += 1
        await rt.nc.flush()
    finally:
        await fetcher.close()
    return time.perf_counter() - started


async def _indexnow(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(100_000, 5_000)
    events = changes(n)
    distinct = {change_urls(e, BASE)[0] for e in events}
    lower_bound = math.ceil(len(distinct) / (MAX_URLS - 1))
    settings = await ctx.settings()
    async with FakeIndexNow(key=KEY) as fake:
        settings = settings.replace(public_base_url=BASE, indexnow_key=KEY, indexnow_endpoint=fake.endpoint)
        rt = await Runtime.open(settings, name="od-bench-indexnow")
        try:
            stream = rt.subjects.stream("OD_CHANGES")
            items = ((rt.subjects.for_event(e), encode_event(e), e.event_id) for e in events)
            print(f"#   publishing {n:,} VehicleChanged ...", flush=True)
            assert await rt.publisher.publish_many(items) == n
            info = await rt.nc.jetstream().stream_info(stream)
            mb = info.state.bytes / 1e6
            baseline = await _baseline(rt, n)

            stop = asyncio.Event()
            started = time.perf_counter()
            task = asyncio.create_task(indexnow.run(rt, stop))
            while True:  # polled: consumer info is the only place that knows
                if await _drained(rt, indexnow.CONSUMER):
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            stop.set()
            await task
        finally:
            await rt.close()
    submitted = [len(s.urls) for s in fake.submissions]
    assert sum(submitted) >= len(distinct), "every vehicle's URL was submitted"
    print(f"#   {n:,} changes ({mb:,.0f} MB), {len(distinct):,} vehicles; requests of {submitted} URLs", flush=True)
    return [
        Figure("indexnow.requests", len(fake.requests), "requests", float(lower_bound), target="≤ 10 for 100,000"),
        Figure("indexnow.drain_seconds", elapsed, "s", baseline, target="≤ 10 s for 100,000"),
        Figure("indexnow.changes_per_s", n / elapsed, "changes/s", n / baseline, target="≥ 10,000"),
    ]


async def _shortlinks(ctx: BenchContext) -> list[Figure]:
    rate = ctx.size(50, 20)
    n = rate * ctx.size(10, 3)
    settings = await ctx.settings()
    async with FakeVehiclePages() as pages, FakeRebrandly(rate_per_s=rate) as rebrandly:
        settings = settings.replace(
            rebrandly_url=rebrandly.url,
            rebrandly_api_key=rebrandly.api_key,
            rebrandly_rate_per_s=float(rate),
            scrape_rate_per_s=10_000.0,
        )
        rt = await Runtime.open(settings, name="od-bench-shortlinks")
        try:
            await rt.pool.execute(
                "INSERT INTO dealers (dealer_id, name, config, event_id, event_at) VALUES ('d1', 'D1', $1, 'e', now())",
                json.dumps({"utm": {"source": "opendealer", "medium": "shortlink"}}),
            )
            await rt.pool.executemany(
                """INSERT INTO vehicles (vehicle_id, dealer_id, dealer_url, first_seen_at, updated_at)
                   VALUES ($1, 'd1', $2, now(), now())""",
                [(f"d1:V{i}", pages.page(f"/used/{i}")) for i in range(n)],
            )
            started = time.perf_counter()
            counts = Counter(await shortlinks.shorten_dealer(rt, "d1", "bench"))
            elapsed = time.perf_counter() - started
        finally:
            await rt.close()
    assert counts["created"] == n, counts
    print(f"#   {n} links, {rebrandly.rate_limited} answered 429 by the provider", flush=True)
    return [
        Figure("shortlinks.links_per_s", n / elapsed, "links/s", float(rate), target="≥ 0.9 x provider rate limit"),
    ]


async def run(ctx: BenchContext) -> list[Figure]:
    return [*await _indexnow(ctx), *await _shortlinks(ctx)]
