"""The scraper against the fake site's robots.txt: disallowed pages never fetched and counted,
Allow beating a broader Disallow, our group before ``*``, Crawl-delay, Sitemap lines, and an
unreachable robots.txt failing the run."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from od.config import Settings
from od.fakes import FakeDealerSite, Fault, generate
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.run import run_fetch
from od.fetchers.scrape import sitemap_candidates
from od.streams import StreamsFile
from tests.integration.fetch_support import add_dealer, completions, opened

# Our user agent may read used cars only (an Allow longer than the Disallow wins), the listing
# page (`$`) and its pages (`*`); every other robot may read nothing. Sitemap: the vehicles' one.
USED_ONLY = """\
User-agent: *
Disallow: /

User-agent: OpenDealerBot
Disallow: /inventory/
Allow: /inventory/$
Allow: /inventory/*?page=
Allow: /inventory/used-

Sitemap: {url}/sitemap-vehicles.xml
"""


async def test_disallowed_detail_pages_are_never_fetched_and_are_counted(
    settings: Settings, js_streams: StreamsFile
) -> None:
    vehicles = generate(30, seed=41)
    used = [v for v in vehicles if v.condition == "used"]
    new = [v for v in vehicles if v.condition == "new"]
    assert used and new
    async with FakeDealerSite(vehicles, listing_size=10) as fake:
        fake.robots_txt = USED_ONLY
        async with opened(settings, scrape_rate_per_s=1000) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, "site", "scrape")
            (completed,) = await completions(runtime, "site", "scrape")

    assert summary.complete and sorted(completed.keys) == sorted(v.vin for v in used)
    assert summary.reasons["detail page disallowed by robots.txt"] == len(new)
    seen = {r.path for r in fake.requests}
    assert not seen & {fake.detail_path(v) for v in new}
    assert {fake.detail_path(v) for v in used} <= seen
    # robots.txt once; its sitemap read instead of guessing /sitemap.xml; every listing page walked.
    assert len(fake.received("/robots.txt")) == 1
    assert fake.received("/sitemap-vehicles.xml") and not fake.received("/sitemap.xml")
    assert len(fake.received("/inventory/")) == 3


async def test_the_star_group_applies_when_no_group_names_us(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = generate(6, seed=42)
    hidden = vehicles[2]
    async with FakeDealerSite(vehicles) as fake:
        fake.robots_txt = f"User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /*{hidden.vin.lower()}/$\n"
        async with opened(settings, scrape_rate_per_s=1000) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, "site", "scrape")
    assert summary.complete and summary.published == 5
    assert summary.reasons["detail page disallowed by robots.txt"] == 1
    assert not fake.received(fake.detail_path(hidden))


async def test_crawl_delay_spaces_the_requests(settings: Settings, js_streams: StreamsFile) -> None:
    async with FakeDealerSite(generate(5, seed=43)) as fake:
        fake.has_sitemap = False
        fake.robots_txt = "User-agent: *\nCrawl-delay: 0.2\n"
        # The configured rate (1000/s) is laxer: the crawl-delay wins.
        async with opened(settings, scrape_concurrency=4, scrape_rate_per_s=1000) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, "site", "scrape")
    assert summary.complete and summary.published == 5
    arrivals = sorted(r.at for r in fake.requests if r.path != "/robots.txt")
    assert len(arrivals) == 1 + 1 + 5  # sitemap (404), listing, details
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.15, gaps


async def test_a_huge_crawl_delay_is_capped(settings: Settings, js_streams: StreamsFile) -> None:
    async with FakeDealerSite(generate(3, seed=45)) as fake:
        fake.has_sitemap = False
        fake.robots_txt = "User-agent: *\nCrawl-delay: 3600\n"  # an hour between requests
        capped = {"scrape_rate_per_s": 1000, "scrape_max_crawl_delay_s": 0.1}
        async with opened(settings, **capped) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await asyncio.wait_for(run_fetch(runtime, "site", "scrape"), 10)
    assert summary.complete and summary.published == 3
    arrivals = sorted(r.at for r in fake.requests if r.path != "/robots.txt")
    assert min(later - earlier for earlier, later in itertools.pairwise(arrivals)) >= 0.08


async def test_robots_txt_decides_whether_the_run_may_crawl(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = generate(8, seed=44)
    async with (
        FakeDealerSite(vehicles) as fake,
        opened(settings, fetch_timeout_s=0.3, scrape_rate_per_s=1000) as runtime,
    ):
        # Unreachable (5xx, timeout): RFC 9309's complete disallow, a transient failure.
        for n, fault in enumerate((Fault(status=503), Fault(delay_s=1))):
            fake.requests.clear()
            fake.faults = {"/robots.txt": fault}
            await add_dealer(runtime, f"down{n}", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            with pytest.raises(TransientSourceError) as failed:
                await run_fetch(runtime, f"down{n}", "scrape")
            assert "robots.txt unreachable" in failed.value.reason and "complete disallow" in failed.value.reason
            assert await completions(runtime, f"down{n}", "scrape") == []
            assert {r.path for r in fake.requests} == {"/robots.txt"}

        # A listing page disallowed with no sitemap to fall back on: the inventory is not read whole.
        fake.faults = {}
        fake.has_sitemap = False
        fake.robots_txt = "User-agent: *\nDisallow: /inventory/\n"
        await add_dealer(runtime, "blocked", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
        with pytest.raises(PermanentSourceError, match="robots.txt disallows the listing page"):
            await run_fetch(runtime, "blocked", "scrape")
        assert await completions(runtime, "blocked", "scrape") == []

        # Unavailable (404, 403): no rules, everything allowed.
        for status in (404, 403):
            fake.robots_txt = "User-agent: *\nDisallow: /\n"
            fake.faults = {"/robots.txt": Fault(status=status)}
            await add_dealer(runtime, f"open{status}", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, f"open{status}", "scrape")
            assert summary.complete and summary.published == len(vehicles), status
            assert not any("robots" in reason for reason in summary.reasons), summary.reasons


def test_robots_sitemaps_come_first_and_sitemap_xml_is_only_a_guess() -> None:
    inventory = "https://d.example/inventory/"
    assert sitemap_candidates([], None, inventory) == ["https://d.example/sitemap.xml"]
    assert sitemap_candidates(["https://cdn.example/a.xml"], "https://d.example/s.xml", inventory) == [
        "https://cdn.example/a.xml",
        "https://d.example/s.xml",
    ]
    assert sitemap_candidates(["https://d.example/s.xml"], "https://d.example/s.xml", inventory) == [
        "https://d.example/s.xml"
    ]
