"""Fetchers end to end against the local fakes, each beside the I/O floor measured in this run.

``fetch_homenet``: one 10,000-vehicle ``LoadCompressedVehicles`` answer, fetched, parsed,
normalized and published (``run_fetch``); the baseline is the same SOAP request with a raw
aiohttp POST plus a raw ``publish_async`` of as many pre-encoded observations. The parse and
normalize stage alone is timed too, against lxml walking the same document.

``scrape``: a dealer site of 1,000 detail pages (the fake runs in its own process, as a
remote site would) crawled by ``run_fetch`` at ``SCRAPE_CONCURRENCY`` requests per host;
the baseline GETs the same detail pages with raw aiohttp at the same concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import msgspec
from lxml import etree

from od import bus
from od.bench.context import BenchContext, Figure
from od.config import Settings
from od.events import Subjects, VehicleObserved, encode_event
from od.fakes import FakeHomeNet, generate
from od.fakes.homenet import NAMESPACE
from od.fetchers.homenet import FIELD_CODES, FIELD_LIST, parse_compressed
from od.fetchers.run import run_fetch
from od.normalize import observation_from_raw
from od.normalize.homenet import homenet_columns, homenet_raw
from od.runtime import Runtime

TOKEN = "bench-token"
SCRAPE_CONCURRENCY = 16
"""The per-host concurrency the scrape benchmark is run at (no rate limit)."""


async def _dealer(runtime: Runtime, dealer_id: str, config: dict[str, object]) -> None:
    await runtime.pool.execute(
        "INSERT INTO dealers (dealer_id, name, config, event_id, event_at) VALUES ($1, $1, $2::jsonb, $1, now())",
        dealer_id,
        msgspec.json.encode(config).decode(),
    )


def _request(rooftop: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><LoadCompressedVehicles xmlns="{NAMESPACE}"><IntegrationToken>{TOKEN}</IntegrationToken>'
        f"<RooftopCollection>{rooftop}</RooftopCollection><FieldList>{FIELD_LIST}</FieldList>"
        "<InventoryFilter></InventoryFilter><UpdatedSinceDate></UpdatedSinceDate></LoadCompressedVehicles>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def _document(answer: bytes) -> str:
    root = etree.fromstring(answer, etree.XMLParser(huge_tree=True))
    return str(root.findtext(f".//{{{NAMESPACE}}}CompressedVehicles"))


async def homenet(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(10_000, 1_000)
    settings = await ctx.settings()
    subjects = Subjects(settings.namespace)
    async with FakeHomeNet({"rt-1": list(generate(n, seed=61))}, token=TOKEN) as fake:
        # The floor: the same SOAP request sent raw, and as many observations' bytes published raw.
        async with aiohttp.ClientSession() as session:

            async def post() -> bytes:
                async with session.post(fake.service_url, data=_request("rt-1")) as resp:
                    return await resp.read()

            document = _document(await post())  # also renders the fake's answer once
            started = time.perf_counter()
            await post()
            request_s = time.perf_counter() - started
        at = datetime.now(UTC)
        columns = homenet_columns(FIELD_CODES)
        observed = [
            observation_from_raw(
                homenet_raw(r, columns), dealer_id="floor", source="homenet", occurred_at=at, run_id="f"
            )
            for r in parse_compressed(document)
        ]
        payloads = [encode_event(o) for o in observed if isinstance(o, VehicleObserved)]
        nc = await bus.connect(ctx.nats_url)
        try:
            js = nc.jetstream(publish_async_max_pending=2048)
            subject = subjects.vehicle_observed("f", "homenet")
            started = time.perf_counter()
            for payload in payloads:
                await js.publish_async(subject, payload)
            await js.publish_async_completed()
            publish_s = time.perf_counter() - started
        finally:
            await nc.close()

        runtime = await Runtime.open(settings.replace(homenet_url=fake.service_url, homenet_token=TOKEN))
        try:
            await _dealer(runtime, "bench", {"homenet": {"rooftop_id": "rt-1"}})
            summary = await run_fetch(runtime, "bench", "homenet")
        finally:
            await runtime.close()
    assert summary.complete and summary.published == n, summary
    return [
        Figure(
            f"fetch_homenet.end_to_end ({n:,} vehicles)",
            n / summary.duration_s,
            "vehicles/s",
            n / (request_s + publish_s),
            target=f">= {n / 5:,.0f} vehicles/s ({n:,} in <= 5 s); took {summary.duration_s:.2f} s",
        ),
        Figure("fetch_homenet.parse_normalize", _stage_rate(document), "vehicles/s", _lxml_walk(document),
               target=">= 20,000 vehicles/s"),
    ]  # fmt: skip


def _stage_rate(document: str, runs: int = 3) -> float:
    """Vehicles/s of decoding the compressed document and normalizing every vehicle (the best
    of ``runs``: these machines are noisy)."""
    at = datetime.now(UTC)
    columns = homenet_columns(FIELD_CODES)
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        count = 0
        for record in parse_compressed(document):
            observation_from_raw(
                homenet_raw(record, columns), dealer_id="b", source="homenet", occurred_at=at, run_id="r"
            )
            count += 1
        best = max(best, count / (time.perf_counter() - started))
    return best


def _lxml_walk(document: str, runs: int = 3) -> float:
    """Vehicles/s of lxml parsing the document and reading every vehicle's attributes (best of
    ``runs``)."""
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        root = etree.fromstring(document.encode(), etree.XMLParser(huge_tree=True))
        count = sum(1 for v in root.iter("V") if dict(v.attrib))
        best = max(best, count / (time.perf_counter() - started))
    return best


@contextlib.asynccontextmanager
async def _site_process(vehicles: int) -> AsyncIterator[str]:
    """The fake dealer site in its own process; yields its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "od.fakes", "site", "--vehicles", str(vehicles), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        yield line.decode().strip()
    finally:
        proc.terminate()
        await proc.wait()


async def _get_all(urls: list[str], concurrency: int) -> float:
    """Seconds to GET (and read) every URL with raw aiohttp at ``concurrency``."""
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=concurrency)) as session:

        async def get(url: str) -> None:
            async with slots, session.get(url) as resp:
                await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(get(url) for url in urls))
        return time.perf_counter() - started


async def scrape(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(1_000, 200)
    settings: Settings = await ctx.settings()
    async with _site_process(n) as url:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/sitemap-vehicles.xml") as resp:
                sitemap = await resp.read()
        details = [loc.text or "" for loc in etree.fromstring(sitemap).iter("{*}loc")]
        await _get_all(details, SCRAPE_CONCURRENCY)  # warm the site's page cache
        baseline = len(details) / await _get_all(details, SCRAPE_CONCURRENCY)
        runtime = await Runtime.open(
            settings.replace(scrape_concurrency=SCRAPE_CONCURRENCY, scrape_rate_per_s=100_000.0)
        )
        try:
            await _dealer(runtime, "bench", {"scrape": {"inventory_url": f"{url}/inventory/"}})
            summary = await run_fetch(runtime, "bench", "scrape")
        finally:
            await runtime.close()
    assert summary.complete and summary.published == n, summary
    return [
        Figure(
            f"scrape.pages ({n:,} detail pages, concurrency {SCRAPE_CONCURRENCY})",
            summary.pages / summary.duration_s,
            "pages/s",
            baseline,
            target=">= 300 pages/s",
        )
    ]
