"""A fake dealer web site: a sitemap index, paginated inventory listing pages and one
detail page per vehicle carrying schema.org data in the many shapes real sites use.

Detail pages cycle through variants (``VARIANTS``): a plain ``Car`` block; an invalid JSON
block before an ``@graph`` with a ``Brand`` object; an ``Offer`` whose ``itemOffered`` is
the car; ``@type ["Product", "Car"]`` with the odometer in kilometres (``KMT``); a
``Vehicle`` without its VIN (only in the URL) beside an ``AutoDealer`` block; microdata only;
an ``ItemList`` holding the car. Listing pages link every car, carry a JSON-LD ``ItemList``
of their URLs and a ``rel="next"`` link.

Quirks on demand: faults per path (status, delay, truncation, garbage; ``/robots.txt`` too),
vehicles left out of the sitemap (found through the listings only), no sitemap at all, and a
robots.txt (``robots_txt``; none by default, which answers 404 and allows everything).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from aiohttp import web

from od.fakes.inventory import FakeVehicle
from od.fakes.server import FakeServer, Fault

INVENTORY_PATH = "/inventory/"
KM_PER_MILE = 1.609344
PERMISSIVE_ROBOTS = "User-agent: *\nAllow: /\n\nSitemap: {url}/sitemap.xml\n"
"""A robots.txt allowing everything and naming the site's sitemap."""


def _ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


class FakeDealerSite(FakeServer):
    def __init__(
        self, vehicles: Sequence[FakeVehicle], *, listing_size: int = 20, name: str = "Example Motors"
    ) -> None:
        super().__init__()
        self.vehicles = list(vehicles)
        self.listing_size = listing_size
        self.name = name
        self.faults: dict[str, Fault] = {}
        """Misbehave for this path (``/inventory/<slug>/``, ``/sitemap.xml``, ...)."""
        self.unlisted_in_sitemap: set[str] = set()
        """VINs the sitemap leaves out (a stale sitemap)."""
        self.has_sitemap = True
        self.robots_txt: str | None = None
        """The robots.txt to serve (None: 404); ``{url}`` stands for the site's own URL."""
        self.pages: dict[str, bytes] = {}
        """Extra pages to serve as they are (path -> HTML), e.g. a real saved page."""
        self._details: dict[str, tuple[int, FakeVehicle]] = {}
        self._cache: dict[str, bytes] = {}

    def detail_path(self, vehicle: FakeVehicle) -> str:
        return f"{INVENTORY_PATH}{vehicle.slug}/"

    def routes(self, app: web.Application) -> None:
        self._details = {self.detail_path(v): (i, v) for i, v in enumerate(self.vehicles)}
        app.router.add_get("/", self._home)
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/sitemap.xml", self._sitemap_index)
        app.router.add_get("/sitemap-pages.xml", self._sitemap_pages)
        app.router.add_get("/sitemap-vehicles.xml", self._sitemap_vehicles)
        app.router.add_get(INVENTORY_PATH, self._listing)
        app.router.add_get(INVENTORY_PATH + "{slug}/", self._detail)
        app.router.add_get("/{page:.+}", self._extra)

    async def _serve(self, request: web.Request, render: Callable[[], bytes], content_type: str) -> web.StreamResponse:
        key = request.path_qs
        if key not in self._cache:
            self._cache[key] = render()
        return await self.answer(request, self._cache[key], content_type, self.faults.get(request.path))

    async def _home(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._home_html, "text/html; charset=utf-8")

    def _home_html(self) -> bytes:
        dealer = {"@context": "https://schema.org", "@type": "AutoDealer", "name": self.name, "url": self.url + "/"}
        return _page(self.name, _ld(dealer) + f'<a href="{INVENTORY_PATH}">Inventory</a>')

    async def _robots(self, request: web.Request) -> web.StreamResponse:
        fault = self.faults.get(request.path)
        if self.robots_txt is None:
            return await self.answer(request, b"not found", "text/plain", fault, status=404)
        return await self.answer(request, self.robots_txt.replace("{url}", self.url).encode(), "text/plain", fault)

    async def _sitemap_index(self, request: web.Request) -> web.StreamResponse:
        if not self.has_sitemap:
            return web.Response(status=404, text="not found")
        locs = "".join(
            f"<sitemap><loc>{self.url}{path}</loc></sitemap>"
            for path in ("/sitemap-pages.xml", "/sitemap-vehicles.xml")
        )
        body = f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{_SM}">{locs}</sitemapindex>'.encode()
        return await self.answer(request, body, "application/xml", self.faults.get(request.path))

    async def _sitemap_pages(self, request: web.Request) -> web.StreamResponse:
        paths = ("/", "/about-us/", "/contact/", INVENTORY_PATH)
        return await self._serve(request, lambda: _urlset(self.url, paths), "application/xml")

    async def _sitemap_vehicles(self, request: web.Request) -> web.StreamResponse:
        paths = [self.detail_path(v) for v in self.vehicles if v.vin not in self.unlisted_in_sitemap]
        return await self._serve(request, lambda: _urlset(self.url, paths), "application/xml")

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        try:
            number = max(1, int(request.query.get("page", "1")))
        except ValueError:
            number = 1
        return await self._serve(request, lambda: self._listing_html(number), "text/html; charset=utf-8")

    def _listing_html(self, number: int) -> bytes:
        size = self.listing_size
        chosen = self.vehicles[(number - 1) * size : number * size]
        cards = "".join(
            f'<div class="vehicle-card"><a href="{self.detail_path(v)}#photos">'
            f"{v.year} {escape(v.make)} {escape(v.model)}</a> <span class=price>${v.price:,}</span></div>"
            for v in chosen
        )
        items = {
            "@context": "https://schema.org",
            "@type": "ItemList",
            "itemListElement": [
                {"@type": "ListItem", "position": k + 1, "url": self.url + self.detail_path(v)}
                for k, v in enumerate(chosen)
            ],
        }
        more = number * size < len(self.vehicles)
        head = f'<link rel="next" href="{INVENTORY_PATH}?page={number + 1}">' if more else ""
        nav = '<a href="/contact/">Contact</a><a href="/about-us/">About</a>'
        return _page(f"Inventory page {number}", _ld(items) + nav + cards, head)

    async def _detail(self, request: web.Request) -> web.StreamResponse:
        found = self._details.get(request.path)
        if found is None:
            return await self.answer(request, b"not found", "text/plain", self.faults.get(request.path), status=404)
        index, vehicle = found
        return await self._serve(request, lambda: self.detail_html(index, vehicle), "text/html; charset=utf-8")

    async def _extra(self, request: web.Request) -> web.StreamResponse:
        body = self.pages.get(request.path)
        if body is None:
            return await self.answer(request, b"not found", "text/plain", self.faults.get(request.path), status=404)
        return await self.answer(request, body, "text/html", self.faults.get(request.path))

    def detail_html(self, index: int, v: FakeVehicle) -> bytes:
        url = self.url + self.detail_path(v)
        variant = VARIANTS[index % len(VARIANTS)]
        return _page(f"{v.year} {v.make} {v.model}", variant(self, v, url))


_SM = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _urlset(base: str, paths: Sequence[str]) -> bytes:
    urls = "".join(f"<url><loc>{base}{path}</loc><lastmod>2025-08-24</lastmod></url>" for path in paths)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{_SM}">{urls}</urlset>'.encode()


def _page(title: str, body: str, head: str = "") -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{head}</head>'
        f'<body><header><a href="/">Home</a></header><main>{body}</main></body></html>'
    ).encode()


def _car(site: FakeDealerSite, v: FakeVehicle, url: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Car",
        "name": f"{v.year} {v.make} {v.model} {v.trim}",
        "url": url,
        "vehicleIdentificationNumber": v.vin,
        "sku": v.stock,
        "vehicleModelDate": str(v.year),
        "brand": v.make,
        "model": v.model,
        "vehicleConfiguration": v.trim,
        "bodyType": v.body,
        "driveWheelConfiguration": v.drivetrain,
        "vehicleTransmission": v.transmission,
        "vehicleEngine": {"@type": "EngineSpecification", "name": v.engine},
        "fuelType": v.fuel_type,
        "color": v.exterior_color,
        "vehicleInteriorColor": v.interior_color,
        "itemCondition": "https://schema.org/NewCondition"
        if v.condition == "new"
        else "https://schema.org/UsedCondition",
        "mileageFromOdometer": {"@type": "QuantitativeValue", "value": v.miles, "unitCode": "SMI"},
        "image": [f"{site.url}/{path}" for path in v.images],
        "description": v.description,
        "offers": {
            "@type": "Offer",
            "price": v.price,
            "priceCurrency": "USD",
            "availability": "https://schema.org/InStock",
            "url": url,
        },
    }
    node.update(extra)
    return node


def _plain(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    return _ld(_car(site, v, url))


def _graph(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    car = _car(site, v, url, brand={"@type": "Brand", "name": v.make})
    car.pop("@context")
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": site.name, "url": site.url + "/"},
            {"@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "position": 1, "url": site.url}]},
            car,
        ],
    }
    broken = '<script type="application/ld+json">{"@type": "Organization", "name": "broken",</script>'
    return broken + _ld(graph)


def _offer(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    car = _car(site, v, url)
    offer = car.pop("offers")
    car.pop("@context")
    return _ld({"@context": "https://schema.org", **offer, "itemOffered": car})


def _product_car_km(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    km = round(v.miles * KM_PER_MILE)
    return _ld(
        _car(
            site,
            v,
            url,
            **{"@type": ["Product", "Car"]},
            mileageFromOdometer={"@type": "QuantitativeValue", "value": km, "unitCode": "KMT"},
        )
    )


def _vehicle_vin_in_url(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    car = _car(site, v, url, **{"@type": "Vehicle"}, manufacturer={"@type": "Organization", "name": v.make})
    del car["vehicleIdentificationNumber"], car["brand"]
    dealer = {"@context": "https://schema.org", "@type": "AutoDealer", "name": site.name}
    return _ld(dealer) + _ld(car)


def _microdata(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    condition = "NewCondition" if v.condition == "new" else "UsedCondition"
    images = "".join(f'<img itemprop="image" src="/{escape(path)}" alt="">' for path in v.images)
    return (
        f'<div itemscope itemtype="https://schema.org/Car">'
        f'<h1 itemprop="name">{v.year} {escape(v.make)} {escape(v.model)}</h1>'
        f'<meta itemprop="vehicleIdentificationNumber" content="{v.vin}">'
        f'<span itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">{escape(v.make)}'
        f'</span></span> <span itemprop="model">{escape(v.model)}</span>'
        f'<span itemprop="vehicleModelDate">{v.year}</span><span itemprop="sku">{escape(v.stock)}</span>'
        f'<span itemprop="vehicleConfiguration">{escape(v.trim)}</span>'
        f'<span itemprop="color">{escape(v.exterior_color)}</span>'
        f'<div itemprop="mileageFromOdometer" itemscope itemtype="https://schema.org/QuantitativeValue">'
        f'<span itemprop="value">{v.miles:,}</span><meta itemprop="unitCode" content="SMI"></div>'
        f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        f'<span itemprop="price" content="{v.price}">${v.price:,}</span>'
        f'<meta itemprop="priceCurrency" content="USD"></div>'
        f'<link itemprop="itemCondition" href="https://schema.org/{condition}">{images}'
        f'<link itemprop="url" href="{url}"></div>'
    )


def _item_list(site: FakeDealerSite, v: FakeVehicle, url: str) -> str:
    car = _car(site, v, url)
    car.pop("@context")
    return _ld(
        {
            "@context": "https://schema.org",
            "@type": "ItemList",
            "itemListElement": [{"@type": "ListItem", "position": 1, "item": car}],
        }
    )


VARIANTS: tuple[Callable[[FakeDealerSite, FakeVehicle, str], str], ...] = (
    _plain,
    _graph,
    _offer,
    _product_car_km,
    _vehicle_vin_in_url,
    _microdata,
    _item_list,
)
