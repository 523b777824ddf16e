"""A fake Dealer.com site: a home page carrying the ``siteId``, and the ``ws-inv-data`` widget
API (``POST /api/widget/ws-inv-data/getInventory``) answering the real JSON shape
(``{"inventory": [...], "pageInfo": {"totalCount", "pageStart", "pageSize"}}``) page by page.

Vehicles are rendered as the real API renders them (../shared/samples/dealer-com): prices as
``"$37,088"`` strings beside plain ``"38350"``, ``salePrice "0"``, ``inventoryDate`` with
month ``00``, new cars with ``odometer "6"``, ``&amp;`` in labels, relative ``link``s, stock
photos shared by several VINs. Raw items (e.g. the real sample's) are served as given.

Quirks on demand: a page size cap, ignoring ``pageStart`` (every page is the first), a fault
for the page at a given start, a fault for the home page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web

from od.fakes.inventory import FakeVehicle
from od.fakes.server import FakeServer, Fault

API_PATH = "/api/widget/ws-inv-data/getInventory"
IMAGE_HOST = "https://pictures.dealer.example"
DRIVE_LINES = {"FWD": "Front Wheel Drive", "AWD": "All-Wheel Drive", "4WD": "Four Wheel Drive"}
# listing.config.id -> which vehicles the segment lists (used includes certified, as on real sites)
SEGMENTS = {
    "auto-new": lambda item: item.get("type") == "new",
    "auto-used": lambda item: item.get("type") == "used",
    "auto-certified-used": lambda item: item.get("type") == "used" and bool(item.get("certified")),
}


def dollars(amount: int) -> str:
    return f"${amount:,}"


def _attribute(name: str, label: str, value: str) -> dict[str, str]:
    return {"name": name, "label": label, "value": value, "labeledValue": f"{label}: {value}"}


def _pricing(v: FakeVehicle, site_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``pricing`` (dprice lines) and ``trackingPricing``, as the site shows them."""
    lines: list[dict[str, Any]] = []
    if v.msrp:
        lines.append({"label": "MSRP", "type": "MIDDLE", "typeClass": "msrp", "value": dollars(v.msrp)})
        if v.price and v.msrp > v.price:
            lines.append(
                {
                    "label": "Dealer Adjustments",
                    "type": "-",
                    "typeClass": "AsubBRule",
                    "value": dollars(v.msrp - v.price),
                    "isDiscount": True,
                }
            )
    if v.price:
        label = "Advertised Price" if v.condition == "new" else "Internet Price"
        lines.append(
            {
                "label": label,
                "type": "TOTAL",
                "typeClass": "internetPrice",
                "value": dollars(v.price),
                "isFinalPrice": True,
            }
        )
    if v.price and v.rebates:
        incentive = f"{site_id}_{v.uuid[:16]}"
        lines.append(
            {
                "incentiveId": incentive,
                "label": "Conditional Offers",
                "type": "SICCI",
                "typeClass": "SICCRule",
                "value": dollars(v.rebates),
            }
        )
        lines.append(
            {
                "label": "Conditional Final Price",
                "type": "TOTAL",
                "typeClass": "finalPrice",
                "value": dollars(v.price - v.rebates),
                "isFinalPrice": True,
            }
        )
    retail = v.msrp or v.price
    pricing = {
        "retailPrice": dollars(retail) if retail else "",
        "dprice": lines,
        "vehicle": {"category": "AUTO"},
        "ePriceStatus": "NON_APPLICABLE",
    }
    tracking = {
        "internetPrice": dollars(v.price) if v.price else "0",
        "salePrice": "0",
        "retailValue": str(retail),
        "msrp": dollars(v.msrp) if v.msrp else "",
        "askingPrice": str(v.price),
    }
    return pricing, tracking


def inventory_item(v: FakeVehicle, site_id: str, index: int) -> dict[str, Any]:
    """One vehicle as ``getInventory`` renders it."""
    pricing, tracking_pricing = _pricing(v, site_id)
    odometer = str(v.miles)
    interior = v.interior_color.replace("&", "&amp;")
    attributes = [
        _attribute("engine", "Engine", v.engine),
        _attribute("transmission", "Transmission", v.transmission),
        _attribute("normalDriveLine", "Drive Line", v.drivetrain),
        _attribute("exteriorColor", "Exterior Color", v.exterior_color),
        _attribute("interiorColor", "Interior Color", interior),
        _attribute("stockNumber", "Stock Number", v.stock),
    ]
    if v.condition == "used":
        attributes.append(_attribute("odometer", "Mileage", f"{v.miles:,} miles"))
    month = "00" if index % 4 == 0 else v.in_stock.strftime("%m")  # the real feed's month 00
    return {
        "trackingAttributes": [
            {"name": "driveLine", "value": DRIVE_LINES[v.drivetrain]},
            {"name": "interiorColor", "value": interior, "normalizedValue": interior.split()[0]},
            {"name": "exteriorColor", "value": v.exterior_color, "normalizedValue": v.exterior_color.split()[-1]},
            {"name": "odometer", "value": odometer},
            {"name": "fuelType", "value": v.fuel_type},
            {"name": "transmission", "value": v.transmission},
            {"name": "engine", "value": str(v.cylinders)},
            {"name": "engineSize", "value": v.engine_size},
            {"name": "normalFuelType", "value": "Gasoline"},
        ],
        "trackingPricing": tracking_pricing,
        "newCarBoost": False,
        "certified": v.certified,
        "condition": "New" if v.condition == "new" else "Used",
        "year": v.year,
        "attributes": attributes,
        "highlightedAttributes": [
            {"name": "type", "label": "Condition", "value": v.condition.title(), "labeledValue": v.condition.title()}
        ],
        "equipment": [
            {
                "category": "Convenience",
                "specifications": [{"description": option, "details": ""} for option in v.options],
            },
            {
                "category": "Specs and Dimensions",
                "specifications": [{"description": "Engine displacement", "details": v.engine_size}],
            },
        ],
        "images": [
            {
                "alt": f"{v.year} {v.make} {v.model} {v.trim}",
                "id": str(k),
                "title": f"{v.year} {v.make} {v.model} {v.trim}",
                "uri": f"{IMAGE_HOST}/r/{site_id}/{path}",
                "provider": "ACTUAL_PHOTO",
            }
            for k, path in enumerate(v.images)
        ],
        "inventoryButtons": [{"btnLabel": "see buy &amp; lease options", "btnStyle": "default"}],
        "title": [f"{v.year} {v.make}", f"{v.model} {v.trim}"],
        "pricing": pricing,
        "accountId": site_id,
        "bodyStyle": v.body,
        "chromeId": str(400_000 + index % 1000),
        "link": f"/{v.condition}/{v.make}/{v.year}-{v.make}-{v.model.replace(' ', '-')}-{v.uuid}.htm",
        "make": v.make,
        "model": v.model,
        "modelCode": "RS4H7SJW",
        "stockNumber": v.stock,
        "trim": v.trim,
        "uuid": v.uuid,
        "vin": v.vin,
        "inventoryDate": f"{month}/{v.in_stock.strftime('%d/%Y')}",
        "offSite": False,
        "fuelType": "Gasoline",
        "optionCodes": [""],
        "classification": "primary",
        "status": "live",
        "statusInt": 1,
        "type": v.condition,
        "typeInt": 2 if v.condition == "new" else 1,
    }


def home_page(site_id: str) -> bytes:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Example Honda | New &amp; Used Cars</title>
<script>window.DDC = window.DDC || {{}};
DDC.siteSettings = {{"siteId": "{site_id}", "locale": "en_US", "device": "DESKTOP"}};</script>
<script src="/yui3/ddc-core.js" async></script>
</head><body><div data-widget-name="ws-inv-data" class="ddc-wrapper"><a href="/new-inventory/index.htm">New</a>
<a href="/used-inventory/index.htm">Used</a></div></body></html>
""".encode()


class FakeDealerCom(FakeServer):
    """``vehicles`` are generated vehicles or raw API items; ``max_page_size`` is the site's cap."""

    def __init__(
        self,
        vehicles: Sequence[FakeVehicle | Mapping[str, Any]],
        *,
        site_id: str = "examplehondaspringfield",
        max_page_size: int = 100,
    ) -> None:
        super().__init__()
        self.site_id = site_id
        self.max_page_size = max_page_size
        self.items: list[Mapping[str, Any]] = [
            inventory_item(v, site_id, i) if isinstance(v, FakeVehicle) else v for i, v in enumerate(vehicles)
        ]
        self.ignore_page_start = False
        self.page_faults: dict[int, Fault] = {}
        """Misbehave for the page starting at this offset (in any segment)."""
        self.home_fault: Fault | None = None
        self.total_bias = 0
        """Added to every ``totalCount``: a site announcing cars it does not list."""
        self._segments: dict[str, list[Mapping[str, Any]]] = {}
        self.bodies: list[dict[str, Any]] = []
        """Every getInventory request body received."""

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._home)
        app.router.add_post(API_PATH, self._inventory)

    def _segment(self, config_id: str) -> list[Mapping[str, Any]]:
        if config_id not in self._segments:
            self._segments[config_id] = [item for item in self.items if SEGMENTS[config_id](item)]
        return self._segments[config_id]

    async def _home(self, request: web.Request) -> web.StreamResponse:
        return await self.answer(request, home_page(self.site_id), "text/html; charset=utf-8", self.home_fault)

    async def _inventory(self, request: web.Request) -> web.StreamResponse:
        try:
            body = msgspec.json.decode(await request.read())
            self.bodies.append(body)
            preferences = body.get("preferences") or {}
            config_id = preferences.get("listing.config.id", "")
            start = int((body.get("inventoryParameters") or {}).get("start", ["0"])[0])
            size = min(int(preferences.get("pageSize", 18)), self.max_page_size)
        except (msgspec.DecodeError, ValueError, TypeError, AttributeError, IndexError):
            return web.json_response({"error": "bad request"}, status=400)
        if body.get("siteId") != self.site_id:
            return web.json_response({"error": "unknown siteId"}, status=404)
        if config_id not in SEGMENTS:
            return web.json_response({"error": f"unknown listing.config.id {config_id!r}"}, status=400)
        segment = self._segment(config_id)
        shown_start = 0 if self.ignore_page_start else start
        page = segment[shown_start : shown_start + size]
        answer = {
            "inventory": page,
            "pageInfo": {"totalCount": len(segment) + self.total_bias, "pageStart": shown_start, "pageSize": size},
            "accounts": {self.site_id: {"name": "Example Honda"}},
        }
        payload = msgspec.json.encode(answer)
        return await self.answer(request, payload, "application/json", self.page_faults.get(start))
