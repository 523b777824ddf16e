"""Minimal HTML pages at the canonical URLs the sitemaps list: each vehicle's and dealer's
page carries its schema.org JSON-LD in a ``<script>`` block."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from od.api import jsonld, store, urls
from od.api.dealers import DealerPath
from od.api.problems import Problem
from od.api.routing import Operation, runtime
from od.api.vehicles import VehiclePath

HTML = "text/html"


def _page(title: str, body: str, head: str = "", canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{link}{head}</head><body>{body}</body></html>\n"
    )


async def home(request: Request) -> Response:
    body = (
        "<h1>Open Dealer</h1><ul>"
        '<li><a href="/v1/dealers">Dealers (JSON)</a></li>'
        '<li><a href="/v1/vehicles">Vehicles (JSON)</a></li>'
        '<li><a href="/v1/feeds/vehicles.ndjson">Vehicle feed (NDJSON)</a></li>'
        '<li><a href="/openapi.json">API description (OpenAPI)</a></li></ul>'
    )
    return HTMLResponse(_page("Open Dealer", body))


async def vehicle_page(request: Request, path: VehiclePath) -> Response:
    rt = runtime(request)
    vehicle = await store.get_vehicle(rt.pool, path.vehicle_id)
    dealer = None if vehicle is None else await store.get_dealer(rt.pool, vehicle.dealer_id)
    if vehicle is None or dealer is None:
        raise Problem(404, f"no vehicle `{path.vehicle_id}`")
    base = rt.settings.public_base_url
    document = jsonld.car(vehicle, dealer, base)
    facts = [
        ("Price", f"{vehicle.price} {vehicle.currency or 'USD'}" if vehicle.price else None),
        ("Mileage", f"{vehicle.mileage:,} mi" if vehicle.mileage is not None else None),
        ("VIN", vehicle.vin),
        ("Stock number", vehicle.stock_number),
        ("Status", vehicle.status),
    ]
    image = f'<img src="{escape(vehicle.images[0])}" alt="{escape(document["name"])}">' if vehicle.images else ""
    body = (
        f"<h1>{escape(document['name'])}</h1>{image}<dl>"
        + "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts if v)
        + f'</dl><p>Offered by <a href="{escape(urls.dealer_page(base, dealer.dealer_id))}">'
        f"{escape(dealer.name)}</a></p>"
    )
    return HTMLResponse(_page(document["name"], body, jsonld.script_block(document), document["url"]))


async def dealer_page(request: Request, path: DealerPath) -> Response:
    rt = runtime(request)
    dealer = await store.get_dealer(rt.pool, path.dealer_id)
    if dealer is None:
        raise Problem(404, f"no dealer `{path.dealer_id}`")
    base = rt.settings.public_base_url
    document = {"@context": jsonld.SCHEMA_ORG, **jsonld.auto_dealer(dealer, base)}
    place = ", ".join(p for p in (dealer.address.street, dealer.address.city, dealer.address.region) if p)
    body = (
        f"<h1>{escape(dealer.name)}</h1><p>{escape(place)}</p>"
        f"<p>{dealer.vehicle_counts.available} vehicles available: "
        f'<a href="/v1/feeds/dealers/{escape(dealer.dealer_id)}/vehicles.ndjson">feed</a></p>'
    )
    canonical = urls.dealer_page(base, dealer.dealer_id)
    return HTMLResponse(_page(dealer.name, body, jsonld.script_block(document), canonical))


_HTML = {HTML: {"type": "string"}}
operations = [
    Operation("GET", "/", home, "Home page", responses=_HTML, tags=("pages",)),
    Operation("GET", "/vehicles/{vehicle_id:path}", vehicle_page, "A vehicle's page with its JSON-LD",
              params=VehiclePath, responses=_HTML, errors=(404,), tags=("pages",)),
    Operation("GET", "/dealers/{dealer_id}", dealer_page, "A dealer's page with its JSON-LD",
              params=DealerPath, responses=_HTML, errors=(404,), tags=("pages",)),
]  # fmt: skip
