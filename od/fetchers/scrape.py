"""Dealer web sites: discover the vehicle detail pages, read their schema.org data.

Discovery reads the site's sitemap (``scrape.sitemap_url``, else ``/sitemap.xml``; an index is
followed one level), then walks the inventory listing pages from ``scrape.inventory_url``
along ``rel="next"`` links. A URL is taken as a vehicle detail page when it is on the
site's host and either has a VIN in its path or lies below the inventory page's path; listing
pages also contribute the ``url``s of their JSON-LD ``ItemList`` and any vehicles they
declare themselves. Detail pages are fetched as soon as they are discovered, concurrently
within the per-host limits (``scrape_concurrency``, ``scrape_rate_per_s``).

A vehicle seen on several pages is one vehicle: its own detail page's data wins, listing data
fills gaps. The pull is complete when discovery finished within the page caps, every detail
page answered (a 404/410 is a sold car and only counted) and at least one vehicle was found:
a site that shows no vehicles is never a complete pull.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from od.events import VehicleObserved
from od.fetchers.base import Page, Pull
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.schema_org import Extracted, extract, vin_in

MAX_CHILD_SITEMAPS = 50
GONE = (404, 410)
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class Site:
    """Which URLs of a dealer's site are vehicle detail pages."""

    def __init__(self, inventory_url: str) -> None:
        parts = urlsplit(inventory_url)
        self.inventory_url = inventory_url
        self.host = parts.netloc.lower()
        self.inventory_path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"

    def is_detail(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != self.host:
            return False
        if vin_in(parts.path):
            return True
        below = parts.path.startswith(self.inventory_path) and len(parts.path) > len(self.inventory_path) + 1
        return below and not parts.query and url != self.inventory_url


def sitemap_locations(body: bytes, host: str) -> tuple[bool, list[str]]:
    """(is an index, the ``<loc>`` URLs) of a sitemap or sitemap index (gzipped or not)."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    try:
        root = etree.fromstring(body, _XML)
    except etree.XMLSyntaxError as exc:
        raise TransientSourceError(host, f"garbled sitemap: {exc}") from None
    is_index = etree.QName(root).localname == "sitemapindex"
    locs = [
        (el.text or "").strip() for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "loc"
    ]
    return is_index, [loc for loc in locs if loc]


async def _sitemap_urls(p: Pull, sitemap_url: str) -> list[str]:
    """Every page URL of the site's sitemap(s); none when the site has no sitemap."""
    page = await p.http.get(sitemap_url, accept=GONE)
    if page.status in GONE:
        p.summary.count("no sitemap")
        return []
    is_index, locations = sitemap_locations(page.body, page.host)
    if not is_index:
        return locations
    urls: list[str] = []
    for child in locations[:MAX_CHILD_SITEMAPS]:
        child_page = await p.http.get(child)
        urls.extend(sitemap_locations(child_page.body, child_page.host)[1])
    return urls


def _next_link(tree: LexborHTMLParser, page_url: str) -> str | None:
    node = tree.css_first('link[rel="next"]') or tree.css_first('a[rel="next"]')
    href = node.attributes.get("href") if node is not None else None
    return urldefrag(urljoin(page_url, href)).url if href else None


def _count_invalid(p: Pull, blocks: int) -> None:
    for _ in range(blocks):
        p.summary.count("invalid JSON-LD block skipped")


def _identity(raw: dict[str, object]) -> str:
    vin = raw.get("vin")
    if isinstance(vin, str) and vin.strip():
        return vin.strip().upper()
    return f"stock:{raw.get('stock_number')}" if raw.get("stock_number") else f"url:{raw.get('dealer_url')}"


def _remember(merged: dict[str, dict[str, object]], raw: dict[str, object], unit: str, *, own_page: bool) -> None:
    """Keep one raw vehicle per identity: a vehicle's own page wins, other pages fill gaps."""
    raw = {**raw, "_unit": unit, "_own": own_page}
    key = _identity(raw)
    old = merged.get(key)
    if old is None:
        merged[key] = raw
        return
    first, second = (raw, old) if own_page and not old["_own"] else (old, raw)
    merged[key] = {k: first.get(k) or second.get(k) for k in first.keys() | second.keys()}
    merged[key]["_own"] = bool(first["_own"] or second["_own"])


async def _detail(p: Pull, url: str) -> Page | None:
    page = await p.http.get(url, accept=GONE)
    if page.status in GONE:
        p.summary.count(f"detail page gone (HTTP {page.status})")
        return None
    return page


class _Crawl:
    """One site's crawl: detail pages are fetched as soon as discovery finds them, and every
    vehicle seen is merged by identity."""

    def __init__(self, p: Pull, site: Site) -> None:
        self.p = p
        self.site = site
        self.details: dict[str, asyncio.Task[Page | None]] = {}
        self.merged: dict[str, dict[str, object]] = {}

    def schedule(self, urls: Iterable[str]) -> None:
        cap = self.p.settings.scrape_max_detail_pages
        for url in urls:
            if url in self.details or not self.site.is_detail(url):
                continue
            if len(self.details) >= cap:
                raise PermanentSourceError(self.site.host, f"more than {cap} detail pages (scrape_max_detail_pages)")
            self.details[url] = asyncio.create_task(_detail(self.p, url))

    async def listings(self) -> None:
        """Walk the listing pages along ``rel="next"``: their detail links are scheduled and
        the vehicles they declare themselves remembered."""
        url: str | None = self.site.inventory_url
        visited: set[str] = set()
        while url and url not in visited:
            if len(visited) >= self.p.settings.fetch_max_pages:
                raise PermanentSourceError(
                    self.site.host, f"listing page cap {self.p.settings.fetch_max_pages} hit at {url}"
                )
            visited.add(url)
            page = await self.p.http.get(url)
            tree = LexborHTMLParser(page.text())
            found = self.read(tree, page.url, listing=True)
            hrefs = (node.attributes.get("href") for node in tree.css("a[href]"))
            self.schedule(urldefrag(urljoin(page.url, href)).url for href in hrefs if href)
            self.schedule(urljoin(page.url, link) for link in found.links)
            url = _next_link(tree, page.url)

    def read(self, html: str | LexborHTMLParser, url: str, *, listing: bool) -> Extracted:
        found = extract(html, url)
        _count_invalid(self.p, found.invalid_blocks)
        if not found.vehicles and not listing:
            self.p.summary.count("detail page without vehicle data")
        sole = len(found.vehicles) == 1 and not listing
        for raw, unit in found.vehicles:
            _remember(self.merged, raw, unit, own_page=sole or (not listing and raw.get("dealer_url") == url))
        return found

    async def details_read(self) -> None:
        for next_done in asyncio.as_completed(list(self.details.values())):
            page = await next_done
            if page is not None:
                self.read(page.text(), page.url, listing=False)

    async def cancel(self) -> None:
        for task in self.details.values():
            task.cancel()
        await asyncio.gather(*self.details.values(), return_exceptions=True)


async def pull(p: Pull) -> AsyncIterator[VehicleObserved]:
    section = p.section("scrape", "inventory_url")
    site = Site(str(section["inventory_url"]))
    sitemap_url = str(section.get("sitemap_url") or urljoin(site.inventory_url, "/sitemap.xml"))
    crawl = _Crawl(p, site)
    try:
        crawl.schedule(await _sitemap_urls(p, sitemap_url))
        await crawl.listings()
        await crawl.details_read()
    finally:
        await crawl.cancel()
    if not crawl.merged:
        raise PermanentSourceError(site.host, "no vehicles found: no schema.org Car/Vehicle data on the site's pages")
    for raw in crawl.merged.values():
        unit = str(raw.pop("_unit"))
        raw.pop("_own")
        observation = p.observe(raw, base_url=site.inventory_url, mileage_unit=unit)
        if observation is not None:
            yield observation
