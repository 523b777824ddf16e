"""schema.org vehicles in a dealer's HTML: JSON-LD first, microdata as the fallback.

JSON-LD comes in many shapes on real sites: several ``<script type="application/ld+json">``
blocks per page, ``@graph`` arrays, ``ItemList``s of ``ListItem``s, an ``Offer`` whose
``itemOffered`` is the car, ``@type`` ``Car`` / ``Vehicle`` / ``["Product", "Car"]``,
``brand`` as a string or an object, ``mileageFromOdometer`` as a ``QuantitativeValue`` in
``SMI`` or ``KMT``. A block that is not valid JSON is skipped (and counted). Microdata is read
(with extruct) only when a page has no JSON-LD vehicle but has ``itemscope`` markup; typed
JSON-LD values win over the page's microdata text where both exist.

Pages often leave the VIN out of the structured data and put it in the URL slug only (e.g.
../shared/realdata/pages/d3autosales-used-srp-2021.html): it is then taken from there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import extruct
from selectolax.lexbor import LexborHTMLParser

VEHICLE_TYPES = frozenset({"Car", "Vehicle", "MotorizedBicycle", "Motorcycle"})
_VIN_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])(?=(?:[A-Za-z]*\d){2})[A-HJ-NPR-Za-hj-npr-z0-9]{17}(?![A-Za-z0-9])")
_KM_UNITS = frozenset({"KMT", "KM", "KILOMETERS", "KILOMETRES"})


def vin_in(text: object) -> str | None:
    """A VIN-shaped token in a URL or id (17 VIN characters with digits, between separators)."""
    if not isinstance(text, str):
        return None
    match = _VIN_IN_TEXT.search(text)
    return match.group().upper() if match else None


def _types(node: Mapping[str, Any]) -> set[str]:
    value = node.get("@type") or node.get("type")
    values = value if isinstance(value, list) else [value]
    return {str(v).rstrip("/").rsplit("/", 1)[-1] for v in values if v}


def _enum(value: object) -> object:
    """``https://schema.org/NewCondition`` -> ``NewCondition``; other values unchanged."""
    if isinstance(value, str) and "schema.org/" in value:
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


def _first(value: object) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _name(value: object) -> object:
    """A name given as a string or as an object (``Brand``, ``Organization``)."""
    value = _first(value)
    if isinstance(value, Mapping):
        return value.get("name")
    return value


def _images(value: object) -> list[object]:
    items = value if isinstance(value, list) else [value]
    out: list[object] = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("contentUrl") or item.get("url")
        if isinstance(item, str | list):
            out.extend(item if isinstance(item, list) else [item])
    return out


def _odometer(value: object) -> tuple[object, str]:
    """The reading and its unit (``mi`` or ``km``) of ``mileageFromOdometer``."""
    value = _first(value)
    if isinstance(value, Mapping):
        unit = str(value.get("unitCode") or value.get("unitText") or "").strip().upper()
        return value.get("value"), "km" if unit in _KM_UNITS else "mi"
    return value, "mi"


def _engine(value: object) -> object:
    value = _first(value)
    if not isinstance(value, Mapping):
        return value
    if value.get("name"):
        return value["name"]
    displacement = value.get("engineDisplacement")
    if isinstance(displacement, Mapping):
        displacement = (
            f"{displacement.get('value', '')}{displacement.get('unitCode') or displacement.get('unitText') or ''}"
        )
    return " ".join(str(part) for part in (displacement, value.get("engineType")) if part) or None


def raw_vehicle(node: Mapping[str, Any], page_url: str) -> tuple[dict[str, object], str]:
    """A schema.org vehicle under the contract's field names, and the odometer's unit."""
    offers = _first(node.get("offers"))
    offers = offers if isinstance(offers, Mapping) else {}
    spec = _first(offers.get("priceSpecification"))
    spec = spec if isinstance(spec, Mapping) else {}
    engine = _first(node.get("vehicleEngine"))
    mileage, unit = _odometer(node.get("mileageFromOdometer"))
    url = node.get("url") or offers.get("url") or page_url
    raw: dict[str, object] = {
        "vin": node.get("vehicleIdentificationNumber") or vin_in(url) or vin_in(node.get("@id")),
        "stock_number": node.get("sku") or node.get("productID"),
        "year": node.get("vehicleModelDate")
        or node.get("modelDate")
        or node.get("releaseDate")
        or node.get("productionDate"),
        "make": _name(node.get("brand")) or _name(node.get("manufacturer")),
        "model": _name(node.get("model")),
        "trim": node.get("vehicleConfiguration"),
        "body_style": node.get("bodyType"),
        "drivetrain": _enum(node.get("driveWheelConfiguration")),
        "transmission": node.get("vehicleTransmission"),
        "engine": _engine(engine),
        "fuel_type": node.get("fuelType") or (engine.get("fuelType") if isinstance(engine, Mapping) else None),
        "exterior_color": node.get("color"),
        "interior_color": node.get("vehicleInteriorColor"),
        "condition": _enum(node.get("itemCondition") or offers.get("itemCondition")),
        "mileage": mileage,
        "price": offers.get("price") or spec.get("price") or offers.get("lowPrice"),
        "currency": offers.get("priceCurrency") or spec.get("priceCurrency"),
        "images": _images(node.get("image")),
        "description": node.get("description"),
        "dealer_url": url,
    }
    return raw, unit


def _vehicles(value: object) -> Iterator[dict[str, Any]]:
    """Every vehicle node in a JSON-LD value, however nested; an ``Offer`` of a vehicle
    yields the vehicle carrying that offer."""
    if isinstance(value, list):
        for item in value:
            yield from _vehicles(item)
    elif isinstance(value, dict):
        types = _types(value)
        if types & VEHICLE_TYPES:
            yield value
        elif "Offer" in types and isinstance(value.get("itemOffered"), dict):
            offered = value["itemOffered"]
            if _types(offered) & VEHICLE_TYPES:
                offer = {k: v for k, v in value.items() if k != "itemOffered"}
                yield {**offered, "offers": offered.get("offers") or offer}
        else:
            for item in value.values():
                if isinstance(item, list | dict):
                    yield from _vehicles(item)


@dataclass
class Extracted:
    vehicles: list[tuple[dict[str, object], str]] = field(default_factory=list)
    """(raw vehicle, odometer unit) in page order."""
    links: list[str] = field(default_factory=list)
    """``url``s of ``ListItem``s (listing pages)."""
    invalid_blocks: int = 0


def _list_item_urls(value: object) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _list_item_urls(item)
    elif isinstance(value, dict):
        if "ListItem" in _types(value) and isinstance(value.get("url"), str):
            yield value["url"]
        for item in value.values():
            if isinstance(item, list | dict):
                yield from _list_item_urls(item)


def _merge(primary: dict[str, object], secondary: Mapping[str, object]) -> dict[str, object]:
    """``primary``'s values, with gaps filled from ``secondary``."""
    return {key: primary.get(key) or secondary.get(key) for key in primary.keys() | secondary.keys()}


def extract(html: str | LexborHTMLParser, page_url: str) -> Extracted:
    """The vehicles (and listing links) a page declares in schema.org markup."""
    tree = html if isinstance(html, LexborHTMLParser) else LexborHTMLParser(html)
    out = Extracted()
    blocks: list[object] = []
    for script in tree.css('script[type="application/ld+json"]'):
        text = script.text(deep=False) or ""
        try:
            blocks.append(json.loads(text, strict=False))
        except ValueError:
            out.invalid_blocks += 1
    for block in blocks:
        out.vehicles.extend(raw_vehicle(node, page_url) for node in _vehicles(block))
        out.links.extend(_list_item_urls(block))
    if tree.css_first("[itemscope]") is not None:
        items = extruct.extract(tree.html or "", base_url=page_url, syntaxes=["microdata"], uniform=True)["microdata"]
        found = [raw_vehicle(node, page_url) for node in _vehicles(items)]
        if not out.vehicles:
            out.vehicles = found
        else:
            by_vin = {raw.get("vin"): raw for raw, _ in found if raw.get("vin")}
            out.vehicles = [(_merge(raw, by_vin.get(raw.get("vin"), {})), unit) for raw, unit in out.vehicles]
    return out
