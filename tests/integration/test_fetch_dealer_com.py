"""Dealer.com against the fake site and its getInventory API (real HTTP on loopback)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from od.config import Settings
from od.fakes import FakeDealerCom, Fault, generate
from od.fakes.dealer_com import SEGMENTS
from od.fetchers.dealer_com import site_id_of
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.run import run_fetch
from od.streams import StreamsFile
from tests.conftest import shared_path
from tests.integration.fetch_support import add_dealer, completions, observations, opened, with_settings


def _pages(fake: FakeDealerCom, size: int) -> int:
    """getInventory pages a walk needs: each segment's count in pages of ``size`` (at least one)."""
    return sum(max(1, math.ceil(sum(map(listed, fake.items)) / size)) for listed in SEGMENTS.values())


async def test_5000_vehicles_over_60_pages(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = generate(5000, seed=21)
    async with FakeDealerCom(vehicles, max_page_size=84) as fake:
        async with opened(settings) as runtime:
            await add_dealer(runtime, "big", {"dealer_com": {"site_url": fake.url + "/"}})
            summary = await run_fetch(runtime, "big", "dealer_com")
            observed = await observations(runtime, "big", "dealer_com")
            (completed,) = await completions(runtime, "big", "dealer_com")

    certified = sum(v.certified for v in vehicles)
    assert summary.complete and summary.error is None
    assert summary.pages == 1 + _pages(fake, 84) and summary.pages >= 60
    # Certified cars are listed twice (used and certified): one observation each.
    assert (summary.found, summary.published, summary.duplicates) == (5000 + certified, 5000, certified)
    assert sorted(completed.keys) == sorted(v.vin for v in vehicles)
    assert len({o.vin for o in observed}) == 5000
    starts = [
        int(b["inventoryParameters"]["start"][0])
        for b in fake.bodies
        if b["preferences"]["listing.config.id"] == "auto-new"
    ]
    assert starts == list(range(0, 84 * len(starts), 84))
    assert {b["siteId"] for b in fake.bodies} == {fake.site_id}

    by_vin = {o.vin: o for o in observed}
    for i, v in enumerate(vehicles):
        o = by_vin[v.vin]
        assert o.price == (f"{v.price}.00" if v.price else None)  # the internet price, "$37,088" style
        if v.condition == "new":
            assert o.msrp == f"{v.msrp}.00"
        assert o.mileage == v.miles and o.stock_number == v.stock
        assert o.condition == ("certified" if v.certified else v.condition)
        assert o.dealer_url is not None and o.dealer_url.startswith(fake.url + f"/{v.condition}/")
        assert o.interior_color == v.interior_color  # "Black &amp; Gray" on the wire
        assert o.date_in_stock == (None if i % 4 == 0 else v.in_stock)  # month "00" is no date
        assert o.images is not None and len(o.images) == len(v.images)
    shared = [o for o in observed if o.images and "/stock/" in o.images[0]]
    assert len({tuple(o.images or ()) for o in shared}) < len(shared)  # stock photos shared by VINs


async def test_price_is_the_dealers_setting(settings: Settings, js_streams: StreamsFile) -> None:
    vehicles = [v for v in generate(60, seed=22) if v.rebates and v.price][:5]
    async with FakeDealerCom(vehicles) as fake:
        async with opened(settings) as runtime:
            site = {"site_url": fake.url}
            await add_dealer(runtime, "internet", {"dealer_com": site})
            await add_dealer(runtime, "final", {"dealer_com": {**site, "price_field": "final_price"}})
            await run_fetch(runtime, "internet", "dealer_com")
            await run_fetch(runtime, "final", "dealer_com")
            internet = await observations(runtime, "internet", "dealer_com")
            final = await observations(runtime, "final", "dealer_com")
    assert [o.price for o in internet] == [f"{v.price}.00" for v in vehicles]
    assert [o.price for o in final] == [f"{v.price - v.rebates}.00" for v in vehicles]
    assert [o.other_prices["final_price"] for o in internet] == [o.price for o in final]
    assert [o.other_prices["internet_price"] for o in final] == [o.price for o in internet]


T, P = TransientSourceError, PermanentSourceError
API = "POST /api/widget/ws-inv-data/getInventory"
FAILURES: list[tuple[str, dict[str, Any], str, type[Exception]]] = [
    ("repeated pages", {"ignore_page_start": True}, "the page at start=30 repeats vehicles already seen", P),
    ("failing page", {"page_faults": {30: Fault(status=500)}}, f"HTTP 500 for {API}", T),
    ("slow page", {"page_faults": {30: Fault(delay_s=1)}}, f"timed out after 0.3s: {API}", T),
    ("truncated page", {"page_faults": {30: Fault(truncate=True)}}, f"truncated answer to {API}", T),
    ("garbled page", {"page_faults": {30: Fault(garbage=True)}}, "garbled answer from /api/widget/ws-inv-data", T),
    ("429", {"page_faults": {30: Fault(status=429, retry_after="60")}}, f"HTTP 429 Too Many Requests for {API}", T),
    ("missing cars", {"total_bias": 3}, "new inventory: 80 distinct vehicles of 83 announced", T),
    ("page cap", {"settings": {"fetch_max_pages": 2}}, "new inventory: page cap 2 hit at start=60 of 80", P),
    ("not dealer.com", {"home_fault": Fault(garbage=True)}, "no Dealer.com siteId", P),
    ("blocked", {"home_fault": Fault(status=403)}, "HTTP 403 for GET /: access refused", P),
]


async def test_an_incomplete_walk_fails_with_its_reason_and_no_feed_completed(
    settings: Settings, js_streams: StreamsFile
) -> None:
    vehicles = [v for v in generate(200, seed=23) if v.condition == "new"][:80]
    async with FakeDealerCom(vehicles, max_page_size=30) as fake, opened(settings, fetch_timeout_s=0.3) as runtime:
        for n, (case, quirks, reason, kind) in enumerate(FAILURES):
            fake.ignore_page_start = quirks.get("ignore_page_start", False)
            fake.page_faults = quirks.get("page_faults", {})
            fake.total_bias = quirks.get("total_bias", 0)
            fake.home_fault = quirks.get("home_fault")
            dealer = f"d{n}"
            await add_dealer(runtime, dealer, {"dealer_com": {"site_url": fake.url}})
            with pytest.raises(kind) as failed:
                await run_fetch(with_settings(runtime, **quirks.get("settings", {})), dealer, "dealer_com")
            assert reason in failed.value.reason, (case, failed.value.reason)
            assert await completions(runtime, dealer, "dealer_com") == [], case
            if case in ("repeated pages", "failing page"):
                # What was read before the failure is published: facts, but no feed completion.
                assert len(await observations(runtime, dealer, "dealer_com")) == 30, case


async def test_real_sample_normalizes_without_rejection(settings: Settings, js_streams: StreamsFile) -> None:
    sample = json.loads(
        shared_path("samples/dealer-com/ws-inv-data-getInventory-rsm-honda-2025-08-25.json").read_text()
    )
    site_id = sample["summary"]["siteId"]
    async with FakeDealerCom(sample["sampleVehicles"], site_id=site_id) as fake:
        async with opened(settings) as runtime:
            await add_dealer(runtime, "rsm-honda", {"dealer_com": {"site_url": fake.url}})
            summary = await run_fetch(runtime, "rsm-honda", "dealer_com")
            observed = await observations(runtime, "rsm-honda", "dealer_com")
    assert summary.complete and summary.rejected == 0 and summary.published == 5
    first = observed[0]
    assert (first.vin, first.year, first.make, first.model, first.trim) == (
        "2HKRS4H74SH471021",
        2025,
        "Honda",
        "CR-V",
        "EX-L",
    )
    assert (first.price, first.msrp, first.mileage) == ("37088.00", "38350.00", 6)  # "$37,088" beside "38350"
    assert first.condition == "new" and first.date_in_stock is None  # inventoryDate "00/24/2025"
    assert first.dealer_url == f"{fake.url}/new/Honda/2025-Honda-CR-V-396b2014ac181b197fa0dda54ce7bcb3.htm"
    assert first.images is not None and len(first.images) == len(sample["sampleVehicles"][0]["images"])
    # The same ACTUAL_PHOTO images are listed for two different VINs: kept as the site says.
    assert observed[0].images[:2] == observed[4].images[:2] and observed[0].vin != observed[4].vin


def test_site_id_from_a_dealer_com_page() -> None:
    html = '<html><head><script>DDC.siteSettings = {"siteId": "ranchosan29961santamargaritaparkway"};</script>'
    assert site_id_of(html) == "ranchosan29961santamargaritaparkway"
    assert site_id_of("<html><body>siteId: 'x'</body></html>") is None  # text, not a script
