"""Dealer.com sites through their inventory widget API.

The site's home page names its ``siteId`` (in the ``DDC`` settings script); then
``POST {site}/api/widget/ws-inv-data/getInventory`` lists each segment (new, used, certified)
page by page: ask from ``start`` for ``PAGE_SIZE`` vehicles (the site may cap the size), stop
when ``start + size >= totalCount`` or on an empty page, never beyond ``fetch_max_pages``.

The walk is complete only when every segment gave as many distinct vehicles as its
``totalCount`` announced. Some sites ignore ``start`` and answer the first page again: a page
of vehicles already seen stops the walk and fails the run (publishing the same cars as a
complete feed would sell every car on the later pages). Certified cars are also listed as
used ones; the runner keeps one observation per VIN.

Which price is "the" price is the dealer's ``dealer_com.price_field`` setting, applied by
``od.normalize.dealer_com_raw``: ``internet_price`` (default), the advertised price every
buyer gets, or ``final_price``, the price after conditional rebates not every buyer
qualifies for. The other one, with the site's other prices, is kept in ``other_prices``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from od.events import VehicleObserved
from od.fetchers.base import Page, Pull
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.normalize import dealer_com_raw
from od.normalize.dealer_com import PriceField

API_PATH = "/api/widget/ws-inv-data/getInventory"
PAGE_SIZE = 100
# (name, pageAlias suffix, listing.config.id)
SEGMENTS = (
    ("new", "NEW", "auto-new"),
    ("used", "USED", "auto-used"),
    ("certified", "CERTIFIED_USED", "auto-certified-used"),
)
_SITE_ID = re.compile(r"""["']?siteId["']?\s*[:=]\s*["']([A-Za-z0-9_-]+)["']""")


def site_id_of(html: str) -> str | None:
    """The ``siteId`` a Dealer.com page declares in its scripts."""
    for script in LexborHTMLParser(html).css("script"):
        match = _SITE_ID.search(script.text(deep=False) or "")
        if match:
            return match.group(1)
    return None


def _identity(item: Mapping[str, Any]) -> str:
    return str(item.get("uuid") or item.get("vin") or item.get("stockNumber") or id(item))


def _inventory_page(page: Page) -> tuple[list[dict[str, Any]], int | None]:
    """The vehicles and ``totalCount`` of a getInventory answer; anything else is garbled."""
    answer = page.json()
    inventory = answer.get("inventory") if isinstance(answer, dict) else None
    if not isinstance(inventory, list):
        raise TransientSourceError(page.host, "garbled getInventory answer: no `inventory` list")
    info = answer.get("pageInfo") or {}
    total = info.get("totalCount") if isinstance(info, dict) else None
    return [i for i in inventory if isinstance(i, dict)], (int(total) if isinstance(total, int | str) else None)


def request_body(site_id: str, alias: str, config_id: str, start: int) -> dict[str, Any]:
    return {
        "siteId": site_id,
        "locale": "en_US",
        "device": "DESKTOP",
        "pageAlias": f"INVENTORY_LISTING_DEFAULT_AUTO_{alias}",
        "pageId": f"v9_INVENTORY_SEARCH_RESULTS_AUTO_{alias}_V1_1",
        "windowId": "inventory-data-bus1",
        "widgetName": "ws-inv-data",
        "inventoryParameters": {"start": [str(start)]},
        "preferences": {"pageSize": str(PAGE_SIZE), "pageStart": str(start), "listing.config.id": config_id},
        "includePricing": True,
    }


async def _segment(p: Pull, api: str, site_id: str, segment: tuple[str, str, str]) -> AsyncIterator[dict[str, Any]]:
    """The items of one segment, page by page, each vehicle once; raises when incomplete."""
    name, alias, config_id = segment
    host = urlsplit(api).netloc
    seen: set[str] = set()
    start, pages, total = 0, 0, None
    while total is None or start < total:
        if pages >= p.settings.fetch_max_pages:
            raise PermanentSourceError(
                host, f"{name} inventory: page cap {p.settings.fetch_max_pages} hit at start={start} of {total}"
            )
        items, total = await p.http.fetch(
            _inventory_page, "POST", api, json=request_body(site_id, alias, config_id, start)
        )
        pages += 1
        if not items:
            break
        fresh = [item for item in items if _identity(item) not in seen]
        if not fresh:
            raise PermanentSourceError(
                host,
                f"{name} inventory: the page at start={start} repeats vehicles already seen (the site ignores start)",
            )
        p.summary.duplicates += len(items) - len(fresh)
        for item in fresh:
            seen.add(_identity(item))
            yield item
        start += len(items)
    if total is not None and len(seen) < total:
        raise TransientSourceError(
            host, f"{name} inventory: {len(seen)} distinct vehicles of {total} announced (pages overlapped or moved)"
        )


async def pull(p: Pull) -> AsyncIterator[VehicleObserved]:
    section = p.section("dealer_com", "site_url")
    site_url = str(section["site_url"])
    setting = section.get("price_field") or "internet_price"
    if setting not in ("internet_price", "final_price"):
        raise PermanentSourceError(
            p.dealer_id, f"dealer_com.price_field {setting!r} is not internet_price or final_price"
        )
    price_field: PriceField = "final_price" if setting == "final_price" else "internet_price"
    site_id = section.get("site_id")
    if not site_id:
        home = await p.http.get(site_url)
        site_id = site_id_of(home.text())
        if not site_id:
            raise PermanentSourceError(home.host, f"no Dealer.com siteId on {site_url}: not a Dealer.com site?")
    api = urljoin(site_url, API_PATH)
    for segment in SEGMENTS:
        async for item in _segment(p, api, str(site_id), segment):
            observation = p.observe(dealer_com_raw(item, price_field=price_field), base_url=site_url)
            if observation is not None:
                yield observation
