"""Short links against real local fakes of Rebrandly and of a dealer site."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from od.config import Settings
from od.enrichment.shortlinks import shorten_dealer
from od.fakes.rebrandly import FakeRebrandly
from od.fakes.server import Fault
from od.fakes.vehicle_pages import FakeVehiclePages
from od.streams import StreamsFile
from tests.integration.enrichment_support import (
    T0,
    changed,
    counter,
    insert_dealer,
    insert_vehicle,
    running,
    runtime_for,
    wait_for,
)

UTM = {"source": "opendealer", "utm_medium": "shortlink"}
UTM_QUERY = "utm_medium=shortlink&utm_source=opendealer"


@pytest.fixture
async def pages() -> AsyncIterator[FakeVehiclePages]:
    async with FakeVehiclePages() as fake:
        yield fake


def link_settings(settings: Settings, rebrandly: FakeRebrandly) -> Settings:
    return settings.replace(
        rebrandly_url=rebrandly.url,
        rebrandly_api_key=rebrandly.api_key,
        rebrandly_rate_per_s=100.0,
        scrape_rate_per_s=100.0,
        enrichment_max_attempts=3,
        enrichment_retry_base_s=0.1,
    )


async def short_url(db: asyncpg.Pool, vehicle_id: str) -> str | None:
    value: str | None = await db.fetchval("SELECT short_url FROM vehicles WHERE vehicle_id = $1", vehicle_id)
    return value


def posts(fake: FakeRebrandly) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in fake.requests if r.method == "POST"]


async def test_link_made_once_per_destination_new_for_a_new_page_kept_when_sold(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, pages: FakeVehiclePages
) -> None:
    page_a, page_b = pages.page("/used/1"), pages.page("/used/1-new")
    await insert_dealer(db, "d1", utm=UTM)
    # A placeholder VIN replaced by the real one: two vehicles, one page.
    await insert_vehicle(db, "d1:A", "d1", page_a)
    await insert_vehicle(db, "d1:B", "d1", page_a)
    async with FakeRebrandly() as rebrandly, runtime_for(link_settings(settings, rebrandly)) as rt:
        publisher = rt.publisher
        async with running(rt, "shortlinks"):
            await publisher.publish(changed("d1:A", "created", dealer_url=page_a))
            first = await wait_for(lambda: short_url(db, "d1:A"), what="d1:A's link")
            # A public field changed: updated_at moves with it (feeds' ETags, sitemaps' lastmod).
            assert await db.fetchval("SELECT updated_at FROM vehicles WHERE vehicle_id = 'd1:A'") > T0
            await publisher.publish(changed("d1:B", "created", dealer_url=page_a))
            await publisher.publish(changed("d1:A", "relisted", dealer_url=page_a))
            await publisher.publish(changed("d1:A", "updated", dealer_url=page_a, fields=["price"]))
            assert await wait_for(lambda: short_url(db, "d1:B"), what="d1:B's link") == first
            await wait_for(lambda: _done(db, 4), what="four changes handled")

            assert posts(rebrandly) == [
                {"destination": f"{page_a}?{UTM_QUERY}", "domain": {"fullName": "rebrand.ly"}}
            ], "one link for one destination, whatever the redeliveries and vehicles"
            (post,) = [r for r in rebrandly.requests if r.method == "POST"]
            assert post.headers["apikey"] == rebrandly.api_key
            assert first.startswith("https://rebrand.ly/")
            # The page was checked without our tracking parameters.
            assert {(r.method, r.path, r.query.get("utm_source")) for r in pages.requests} == {
                ("HEAD", "/used/1", None)
            }

            # A new page: a new link; the old one stays in the history.
            await db.execute("UPDATE vehicles SET dealer_url = $2 WHERE vehicle_id = $1", "d1:A", page_b)
            await publisher.publish(changed("d1:A", "updated", dealer_url=page_b, fields=["dealer_url", "price"]))
            second = await wait_for(lambda: _other_than(db, "d1:A", first), what="d1:A's new link")
            assert posts(rebrandly)[-1]["destination"] == f"{page_b}?{UTM_QUERY}"

            # Sold: the link is kept.
            await db.execute("UPDATE vehicles SET status = 'sold' WHERE vehicle_id = $1", "d1:A")
            await publisher.publish(changed("d1:A", "sold", dealer_url=page_b))
            await wait_for(lambda: _done(db, 6), what="six changes handled")
            assert await short_url(db, "d1:A") == second

    rows = await db.fetch("SELECT target_url, status, attempts FROM vehicle_links WHERE vehicle_id = 'd1:A' ORDER BY 1")
    assert [(r["target_url"], r["status"], r["attempts"]) for r in rows] == [
        (f"{page_b}?{UTM_QUERY}", "linked", 1),
        (f"{page_a}?{UTM_QUERY}", "linked", 1),
    ]
    assert await counter(db, "shortlinks", "links_created") == 2
    assert await counter(db, "shortlinks", "links_reused") == 1


async def _done(db: asyncpg.Pool, n: int) -> bool:
    return await counter(db, "shortlinks", "done") >= n


async def _other_than(db: asyncpg.Pool, vehicle_id: str, old: str) -> str | None:
    current = await short_url(db, vehicle_id)
    return current if current and current != old else None


async def test_rate_limited_then_linked(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, pages: FakeVehiclePages
) -> None:
    await insert_dealer(db, "d1")
    await insert_vehicle(db, "d1:A", "d1", pages.page("/a"))
    fault = Fault(status=429, retry_after="1", times=1)
    async with FakeRebrandly(fault=fault) as rebrandly, runtime_for(link_settings(settings, rebrandly)) as rt:
        async with running(rt, "shortlinks"):
            await rt.publisher.publish(changed("d1:A", "created", dealer_url=pages.page("/a")))
            link = await wait_for(lambda: short_url(db, "d1:A"), what="the link after a 429")
    sent = [r for r in rebrandly.requests if r.method == "POST"]
    assert len(sent) == 2 and sent[1].at - sent[0].at >= 0.9, "the second try waited for Retry-After"
    assert link.startswith("https://rebrand.ly/")
    row = await db.fetchrow("SELECT status, attempts, last_error FROM vehicle_links WHERE vehicle_id = 'd1:A'")
    assert (row["status"], row["attempts"], row["last_error"]) == ("linked", 2, None)
    assert await counter(db, "shortlinks", "retried") == 1


async def test_missing_page_gives_no_link_head_refused_and_redirects_do(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, pages: FakeVehiclePages
) -> None:
    pages.missing.add("/gone-404")
    pages.gone.add("/gone-410")
    pages.head_refused.add("/no-head")
    urls = {
        "d1:404": pages.page("/gone-404"),
        "d1:410": pages.page("/gone-410"),
        "d1:moved": pages.page("/moved/here"),
        "d1:nohead": pages.page("/no-head"),
    }
    await insert_dealer(db, "d1")
    for vehicle_id, url in urls.items():
        await insert_vehicle(db, vehicle_id, "d1", url)
    async with FakeRebrandly() as rebrandly, runtime_for(link_settings(settings, rebrandly)) as rt:
        async with running(rt, "shortlinks"):
            for vehicle_id, url in urls.items():
                await rt.publisher.publish(changed(vehicle_id, "created", dealer_url=url))
            await wait_for(lambda: _done(db, 4), what="four changes handled")
    assert sorted(rebrandly.created) == sorted([urls["d1:moved"], urls["d1:nohead"]])
    statuses = {r["vehicle_id"]: r["status"] for r in await db.fetch("SELECT vehicle_id, status FROM vehicle_links")}
    assert statuses == {"d1:404": "page_missing", "d1:410": "page_missing", "d1:moved": "linked", "d1:nohead": "linked"}
    assert await short_url(db, "d1:404") is None and await short_url(db, "d1:moved")
    asked = [(r.method, r.path) for r in pages.requests]
    assert ("HEAD", "/here") in asked, "the redirect was followed"
    assert ("GET", "/no-head") in asked, "a refused HEAD falls back to GET"
    assert await counter(db, "shortlinks", "links_page_missing") == 2


async def test_provider_failure_retried_then_dead_lettered_with_reason(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, pages: FakeVehiclePages
) -> None:
    await insert_dealer(db, "d1")
    await insert_vehicle(db, "d1:A", "d1", pages.page("/a"))
    await insert_vehicle(db, "d1:K", "d1", pages.page("/k"))
    async with (
        FakeRebrandly(fault=Fault(status=503)) as rebrandly,
        runtime_for(link_settings(settings, rebrandly)) as rt,
    ):
        async with running(rt, "shortlinks"):
            await rt.publisher.publish(changed("d1:A", "created", dealer_url=pages.page("/a")))
            reason = await wait_for(
                lambda: db.fetchval("SELECT reason FROM dead_letters WHERE consumer = 'shortlinks'"),
                what="the dead letter",
            )
            assert len([r for r in rebrandly.requests if r.method == "POST"]) == 3
            assert reason.startswith("gave up after 3 attempts: rebrandly answered 503")
            row = await db.fetchrow("SELECT status, attempts, last_error FROM vehicle_links WHERE vehicle_id = 'd1:A'")
            assert (row["status"], row["attempts"]) == ("failed", 3) and "503" in row["last_error"]
            dl = await rt.nc.jetstream().get_last_msg(
                rt.subjects.stream("OD_DEADLETTER"), rt.subjects.deadletter("shortlinks")
            )
            assert dl.headers is not None and dl.headers["Od-Reason"] == reason

            # A refused API key is not retried: dead-lettered at once.
            rebrandly.fault, rebrandly.api_key = None, "another-key"
            await rt.publisher.publish(changed("d1:K", "created", dealer_url=pages.page("/k")))
            await wait_for(
                lambda: db.fetchval("SELECT count(*) = 2 FROM dead_letters WHERE consumer = 'shortlinks'"),
                what="two dead letters",
            )
    assert len([r for r in rebrandly.requests if r.method == "POST"]) == 4
    reasons = [r["reason"] for r in await db.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    assert reasons[1].startswith("rebrandly refused the link (401)")


async def test_shorten_dealer_links_what_lacks_a_link(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, pages: FakeVehiclePages
) -> None:
    await insert_dealer(db, "d1", utm=UTM)
    await insert_dealer(db, "d2")
    for i in range(5):
        await insert_vehicle(db, f"d1:V{i}", "d1", pages.page(f"/v/{i}"))
    await insert_vehicle(db, "d1:sold", "d1", pages.page("/v/sold"), status="sold")
    await insert_vehicle(db, "d1:nopage", "d1", None)
    await insert_vehicle(db, "d2:V0", "d2", pages.page("/d2/v/0"))
    pages.missing.add("/v/4")
    async with FakeRebrandly(rate_per_s=50) as rebrandly, runtime_for(link_settings(settings, rebrandly)) as rt:
        counts = await shorten_dealer(rt, "d1", "run-1")
        assert counts == {"vehicles": 5, "todo": 5, "created": 4, "page_missing": 1}
        again = await shorten_dealer(rt, "d1", "run-2")
        assert again == {"vehicles": 5, "todo": 1, "page_missing": 1}, "only the missing page is checked again"
    assert sorted(rebrandly.created) == sorted(f"{pages.page(f'/v/{i}')}?{UTM_QUERY}" for i in range(4))
    assert await short_url(db, "d1:V0") and await short_url(db, "d2:V0") is None
