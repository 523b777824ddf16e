"""Dealer web sites against the fake site: sitemap + listings + detail pages with schema.org data."""

from __future__ import annotations

from typing import Any

import pytest

from od.config import Settings
from od.fakes import FakeDealerSite, Fault, generate
from od.fakes.dealer_site import VARIANTS
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.run import run_fetch
from od.fetchers.scrape import Site
from od.streams import StreamsFile
from tests.conftest import shared_path
from tests.integration.fetch_support import add_dealer, completions, observations, opened, with_settings


async def test_every_vehicle_of_the_site_in_every_markup(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = generate(10 * len(VARIANTS), seed=31)
    async with FakeDealerSite(vehicles, listing_size=20) as fake:
        fake.unlisted_in_sitemap = {v.vin for v in vehicles[:5]}  # found through the listings
        async with opened(settings, scrape_concurrency=3, scrape_rate_per_s=1000) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, "site", "scrape")
            observed = await observations(runtime, "site", "scrape")
            (completed,) = await completions(runtime, "site", "scrape")

    assert summary.complete and summary.error is None and summary.rejected == 0
    assert summary.published == len(vehicles) and sorted(completed.keys) == sorted(v.vin for v in vehicles)
    assert summary.reasons == {"invalid JSON-LD block skipped": 10}
    # robots.txt (404: everything allowed), 3 sitemaps, 4 listing pages, one page per vehicle;
    # never more than 3 at once.
    assert summary.pages == 1 + 3 + 4 + len(vehicles)
    assert len(fake.received("/inventory/")) == 4 and fake.max_in_flight <= 3
    by_vin = {o.vin: o for o in observed}
    for i, v in enumerate(vehicles):
        o = by_vin[v.vin]
        variant = VARIANTS[i % len(VARIANTS)].__name__
        assert (o.year, o.make, o.model, o.stock_number) == (v.year, v.make, v.model, v.stock), variant
        assert o.price == (f"{v.price}.00" if v.price else None), variant
        assert o.mileage is not None and abs(o.mileage - v.miles) <= 1, variant  # KMT converted back
        assert o.dealer_url == fake.url + fake.detail_path(v), variant
        assert o.condition == v.condition, variant
        assert o.images is not None and len(o.images) == len(v.images), variant


async def test_detail_pages_are_fetched_within_the_rate_limit(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = generate(15, seed=32)
    async with FakeDealerSite(vehicles) as fake:
        async with opened(settings, scrape_concurrency=4, scrape_rate_per_s=10) as runtime:
            await add_dealer(runtime, "site", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
            summary = await run_fetch(runtime, "site", "scrape")
    assert summary.complete and summary.pages == 1 + 3 + 1 + 15
    arrivals = sorted(r.at for r in fake.requests)
    # A burst of 10, then 10 a second: the last 9 requests are spread over most of a second.
    assert arrivals[-1] - arrivals[10] >= 0.6


T, P = TransientSourceError, PermanentSourceError
FAILURES: list[tuple[str, dict[str, Any], str, type[Exception]]] = [
    ("detail 5xx", {"fault": (3, Fault(status=503))}, "HTTP 503 for GET /inventory/", T),
    ("detail slow", {"fault": (3, Fault(delay_s=1))}, "timed out after 0.3s: GET /inventory/", T),
    ("detail truncated", {"fault": (3, Fault(truncate=True))}, "truncated answer to GET /inventory/", T),
    ("detail 429", {"fault": (3, Fault(status=429, retry_after="30"))}, "HTTP 429 Too Many Requests", T),
    (
        "sitemap 5xx",
        {"path_fault": ("/sitemap-vehicles.xml", Fault(status=500))},
        "HTTP 500 for GET /sitemap-vehicles",
        T,
    ),
    ("sitemap garbled", {"path_fault": ("/sitemap.xml", Fault(garbage=True))}, "garbled sitemap", T),
    ("listing blocked", {"path_fault": ("/inventory/", Fault(status=403))}, "HTTP 403 for GET /inventory/", P),
    ("listing cap", {"settings": {"fetch_max_pages": 1}}, "listing page cap 1 hit at", P),
    ("no vehicles", {"inventory": "/contact/", "no_sitemap": True}, "no vehicles found", P),
]


async def test_an_incomplete_crawl_fails_with_its_reason_and_no_feed_completed(
    settings: Settings, js_streams: StreamsFile
) -> None:
    vehicles = generate(25, seed=33)
    async with (
        FakeDealerSite(vehicles, listing_size=10) as fake,
        opened(settings, fetch_timeout_s=0.3, scrape_rate_per_s=1000) as runtime,
    ):
        fake.pages["/contact/"] = b"<html><body><h1>Call us</h1></body></html>"
        for n, (case, quirks, reason, kind) in enumerate(FAILURES):
            fake.faults = {}
            fake.has_sitemap = not quirks.get("no_sitemap")
            if "fault" in quirks:
                index, fault = quirks["fault"]
                fake.faults[fake.detail_path(vehicles[index])] = fault
            if "path_fault" in quirks:
                path, fault = quirks["path_fault"]
                fake.faults[path] = fault
            dealer = f"d{n}"
            inventory = fake.url + quirks.get("inventory", "/inventory/")
            await add_dealer(runtime, dealer, {"scrape": {"inventory_url": inventory}})
            with pytest.raises(kind) as failed:
                await run_fetch(with_settings(runtime, **quirks.get("settings", {})), dealer, "scrape")
            assert reason in failed.value.reason, (case, failed.value.reason)
            assert await completions(runtime, dealer, "scrape") == [], case

        # Sold cars (404) and a site without a sitemap still make a complete pull.
        fake.faults = {}
        fake.has_sitemap = False
        fake.faults[fake.detail_path(vehicles[4])] = Fault(status=404)
        await add_dealer(runtime, "ok", {"scrape": {"inventory_url": fake.url + "/inventory/"}})
        summary = await run_fetch(runtime, "ok", "scrape")
        (completed,) = await completions(runtime, "ok", "scrape")
    assert summary.complete and summary.published == 24 and vehicles[4].vin not in completed.keys
    assert summary.reasons["detail page gone (HTTP 404)"] == 1 and summary.reasons["no sitemap"] == 1


async def test_real_dealer_page_with_json_ld(settings: Settings, js_streams: StreamsFile) -> None:
    page = shared_path("realdata/pages/d3autosales-used-srp-2021.html").read_bytes()  # Windows-1252
    async with FakeDealerSite([]) as fake:
        fake.has_sitemap = False
        fake.pages["/used-cars/"] = page
        async with opened(settings) as runtime:
            await add_dealer(runtime, "d3", {"scrape": {"inventory_url": fake.url + "/used-cars/"}})
            summary = await run_fetch(runtime, "d3", "scrape")
            observed = await observations(runtime, "d3", "scrape")
    assert summary.complete and summary.rejected == 0 and summary.published == 18
    first = observed[0]
    # No vehicleIdentificationNumber in its JSON-LD: the VIN comes from the car's URL.
    assert (first.vin, first.make, first.model, first.year) == ("1GYS4DKJ3KR121074", "Cadillac", "Escalade", 2019)
    assert (first.mileage, first.price, first.stock_number) == (44193, "69499.00", "121074")
    assert all(o.vin for o in observed)


def test_which_urls_are_detail_pages() -> None:
    site = Site("https://www.example.com/inventory/")
    assert site.is_detail("https://www.example.com/inventory/2021-honda-accord/")
    assert site.is_detail("https://www.example.com/used/2019-ford-f-150-1FTEW1E53KFB85174.htm")
    assert not site.is_detail("https://www.example.com/inventory/")
    assert not site.is_detail("https://www.example.com/inventory/?page=2")
    assert not site.is_detail("https://www.example.com/contact/")
    assert not site.is_detail("https://other.example.com/inventory/2021-honda-accord/")
