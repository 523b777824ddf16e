"""Sitemaps (valid against the sitemaps.org XSDs), robots.txt and the IndexNow key file."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import pytest
from lxml import etree

from od.api import seo
from tests.conftest import shared_path
from tests.integration.api_fixtures import T0, Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]

NS = {"s": seo.SITEMAP_NS}
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared_path(f"standards/{name}"))))


async def fetch_xml(api: Api, path: str, xsd: etree.XMLSchema) -> tuple[bytes, etree._Element]:
    async with api.get(path) as resp:
        assert resp.status == 200, (path, await resp.text())
        assert resp.content_type == "application/xml"
        body = await resp.read()
    doc = etree.fromstring(body)
    assert xsd.validate(doc), (path, xsd.error_log)
    for lastmod in doc.iterfind(".//s:lastmod", NS):
        assert W3C.match(lastmod.text), lastmod.text
    return body, doc


def locs(doc: etree._Element) -> list[str]:
    return [e.text for e in doc.iterfind(".//s:loc", NS)]


async def test_empty_database_gives_a_valid_index(api: Api) -> None:
    index_xsd, urlset_xsd = schema("siteindex.xsd"), schema("sitemap.xsd")
    _, index = await fetch_xml(api, "/sitemap.xml", index_xsd)
    assert locs(index) == ["https://cars.example.test/sitemap-pages.xml"]
    _, pages = await fetch_xml(api, "/sitemap-pages.xml", urlset_xsd)
    assert locs(pages) == ["https://cars.example.test/"]
    async with api.get("/sitemap-vehicles-1.xml") as resp:
        assert resp.status == 404  # never an empty <urlset>


async def test_sitemaps_split_validate_and_repeat_byte_for_byte(
    api: Api, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seo, "MAX_URLS", 3)
    index_xsd, urlset_xsd = schema("siteindex.xsd"), schema("sitemap.xsd")
    await add_dealer(db, "alpha", updated_at=T0 + timedelta(days=1))
    await add_dealer(db, "beta")
    await add_dealer(db, "gone", deleted=True)
    vehicles = [
        await add_vehicle(
            db, "alpha", vin(n), updated_at=T0 + timedelta(hours=n), status="sold" if n == 5 else "available"
        )
        for n in range(8)
    ]
    vehicles.append(await add_vehicle(db, "beta", "stock:<a&b>'\""))
    await add_vehicle(db, "gone", vin(1))

    body, index = await fetch_xml(api, "/sitemap.xml", index_xsd)
    children = locs(index)
    assert children == [
        "https://cars.example.test/sitemap-pages.xml",
        "https://cars.example.test/sitemap-dealers-1.xml",
        "https://cars.example.test/sitemap-vehicles-1.xml",
        "https://cars.example.test/sitemap-vehicles-2.xml",
        "https://cars.example.test/sitemap-vehicles-3.xml",
    ]
    lastmods = {
        e.findtext("s:loc", namespaces=NS): e.findtext("s:lastmod", namespaces=NS)
        for e in index.iterfind("s:sitemap", NS)
    }
    urls: list[str] = []
    for child in children[1:]:
        _, doc = await fetch_xml(api, child.removeprefix("https://cars.example.test"), urlset_xsd)
        assert 1 <= len(locs(doc)) <= 3
        inner = [e.text for e in doc.iterfind(".//s:lastmod", NS)]
        assert lastmods[child] == max(inner)  # the index names the newest inside
        urls += locs(doc)
    visible = [v for n, v in enumerate(vehicles) if n != 5]
    expected_vehicles = [f"https://cars.example.test/vehicles/{v}" for v in sorted(visible)]
    expected_vehicles[-1] = "https://cars.example.test/vehicles/beta:stock:%3Ca%26b%3E%27%22"
    assert urls == [
        "https://cars.example.test/dealers/alpha",
        "https://cars.example.test/dealers/beta",
        *expected_vehicles,
    ]
    again, _ = await fetch_xml(api, "/sitemap.xml", index_xsd)
    assert again == body  # unchanged data, identical bytes


async def test_sitemaps_answer_304_until_the_data_moves(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    await add_vehicle(db, "alpha", vin(1))
    for path in ("/sitemap.xml", "/sitemap-vehicles-1.xml", "/sitemap-dealers-1.xml"):
        async with api.get(path) as resp:
            etag = resp.headers["ETag"]
            assert resp.headers["Last-Modified"]
        async with api.get(path, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
    await add_vehicle(db, "alpha", vin(2), updated_at=T0 + timedelta(minutes=1))
    async with api.get("/sitemap.xml", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200


async def test_robots_txt(api: Api) -> None:
    async with api.get("/robots.txt") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    groups = [g.splitlines() for g in text.strip().split("\n\n")]
    agents = {g[0].removeprefix("User-agent: "): g[1:] for g in groups if g[0].startswith("User-agent:")}
    for bot in ("GPTBot", "ClaudeBot", "PerplexityBot", "OAI-SearchBot", "*"):
        rules = agents[bot]
        assert "Allow: /" in rules
        assert "Disallow: /metrics" in rules  # every group repeats the private paths (no inheritance)
        assert rules == agents["*"]
    assert groups[-1] == ["Sitemap: https://cars.example.test/sitemap.xml"]


async def test_indexnow_key_file(api: Api) -> None:
    async with api.get("/test-indexnow-key-1234.txt") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert await resp.text() == "test-indexnow-key-1234"
    async with api.get("/some-other-key-5678.txt") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
