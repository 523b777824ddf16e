"""Dealer web sites: discover the vehicle detail pages, read their schema.org data.

The site's robots.txt is read first (``od.fetchers.robots``): no page it disallows for our
user agent is fetched (each is counted), its ``Crawl-delay`` slows the crawl, and its
``Sitemap:`` lines are the first sitemaps read. Discovery reads those sitemaps and
``scrape.sitemap_url`` (``/sitemap.xml`` when neither names one; an index is followed one
level), then walks the inventory listing pages from ``scrape.inventory_url``
along ``rel="next"`` links. A URL is taken as a vehicle detail page when it is on the
site's host and either has a VIN in its path or lies below the inventory page's path; listing
pages also contribute the ``url``s of their JSON-LD ``ItemList`` and any vehicles they
declare themselves. Detail pages are fetched as soon as they are discovered, concurrently
within the per-host limits (``scrape_concurrency``, ``scrape_rate_per_s``).

A vehicle seen on several pages is one vehicle: its own detail page's data wins, listing data
fills gaps. The pull is complete when discovery finished within the page caps, every detail
page answered (a 404/410 is a sold car and only counted) and at least one vehicle was found:
a site that shows no vehicles is never a complete pull. A detail page robots.txt disallows is
not part of what the site lets us read: it is skipped and counted. A listing page it disallows
ends the listing walk: the pull can then complete only if the sitemaps listed vehicle pages.
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
from od.fetchers.robots import RobotsRules
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


def sitemap_candidates(robots_sitemaps: Iterable[str], configured: str | None, inventory_url: str) -> list[str]:
    """The sitemaps to read: robots.txt's, then the configured one; ``/sitemap.xml`` is only
    guessed when neither names any."""
    named = [*robots_sitemaps, *([configured] if configured else [])]
    return list(dict.fromkeys(named or [urljoin(inventory_url, "/sitemap.xml")]))


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


class _Crawl:
    """One site's crawl: detail pages are fetched as soon as discovery finds them, and every
    vehicle seen is merged by identity."""

    def __init__(self, p: Pull, site: Site) -> None:
        self.p = p
        self.site = site
        self.robots = RobotsRules(p.http)
        self.details: dict[str, asyncio.Task[Page | None]] = {}
        self.merged: dict[str, dict[str, object]] = {}
        self.listing_disallowed: str | None = None
        """The listing page robots.txt kept the walk from, if any."""

    async def allowed(self, url: str, what: str) -> bool:
        if await self.robots.allows(url):
            return True
        self.p.summary.count(f"{what} disallowed by robots.txt")
        return False

    async def sitemap_urls(self, sitemap_url: str) -> list[str]:
        """Every page URL of one sitemap (an index followed one level); none when it is absent."""
        if not await self.allowed(sitemap_url, "sitemap"):
            return []
        page = await self.p.http.get(sitemap_url, accept=GONE)
        if page.status in GONE:
            self.p.summary.count("no sitemap")
            return []
        is_index, locations = sitemap_locations(page.body, page.host)
        if not is_index:
            return locations
        urls: list[str] = []
        for child in locations[:MAX_CHILD_SITEMAPS]:
            if await self.allowed(child, "sitemap"):
                child_page = await self.p.http.get(child)
                urls.extend(sitemap_locations(child_page.body, child_page.host)[1])
        return urls

    async def detail(self, url: str) -> Page | None:
        if not await self.allowed(url, "detail page"):
            return None
        page = await self.p.http.get(url, accept=GONE)
        if page.status in GONE:
            self.p.summary.count(f"detail page gone (HTTP {page.status})")
            return None
        return page

    def schedule(self, urls: Iterable[str]) -> None:
        cap = self.p.settings.scrape_max_detail_pages
        for url in urls:
            if url in self.details or not self.site.is_detail(url):
                continue
            if len(self.details) >= cap:
                raise PermanentSourceError(self.site.host, f"more than {cap} detail pages (scrape_max_detail_pages)")
            self.details[url] = asyncio.create_task(self.detail(url))

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
            if not await self.allowed(url, "listing page"):
                self.listing_disallowed = url
                return
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
        await self.robots.close()


async def pull(p: Pull) -> AsyncIterator[VehicleObserved]:
    section = p.section("scrape", "inventory_url")
    site = Site(str(section["inventory_url"]))
    crawl = _Crawl(p, site)
    try:
        robots = await crawl.robots.of(site.inventory_url)
        configured = str(section["sitemap_url"]) if section.get("sitemap_url") else None
        for sitemap_url in sitemap_candidates(robots.sitemaps, configured, site.inventory_url):
            crawl.schedule(await crawl.sitemap_urls(sitemap_url))
        from_sitemaps = len(crawl.details)
        await crawl.listings()
        await crawl.details_read()
    finally:
        await crawl.cancel()
    if crawl.listing_disallowed and not from_sitemaps:
        raise PermanentSourceError(
            site.host,
            f"robots.txt disallows the listing page {crawl.listing_disallowed} and no sitemap lists vehicle pages: "
            "the inventory cannot be read whole",
        )
    if not crawl.merged:
        blocked = sum(n for reason, n in p.summary.reasons.items() if reason.endswith("disallowed by robots.txt"))
        why = (
            f"robots.txt disallowed {blocked} pages"
            if blocked
            else "no schema.org Car/Vehicle data on the site's pages"
        )
        raise PermanentSourceError(site.host, f"no vehicles found: {why}")
    for raw in crawl.merged.values():
        unit = str(raw.pop("_unit"))
        raw.pop("_own")
        observation = p.observe(raw, base_url=site.inventory_url, mileage_unit=unit)
        if observation is not None:
            yield observation
