"""A Dealer.com ``ws-inv-data/getInventory`` vehicle -> a raw dict in contract field names.

Values are left raw (``observation_from_raw`` normalizes them). Which price is "the" price
is the dealer's explicit setting (``DealerComConfig.price_field``): the internet price, or
the final price after conditional rebates that not every buyer qualifies for. Both, and
the site's other prices, stay in ``other_prices``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from od.normalize.numbers import money, number

PriceField = Literal["internet_price", "final_price"]


def _attributes(vehicle: Mapping[str, object], key: str) -> dict[str, object]:
    """``[{"name": ..., "value": ...}]`` lists as a dict (first value of a name wins)."""
    found: dict[str, object] = {}
    items = vehicle.get(key)
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                found.setdefault(item["name"], item.get("value"))
    return found


def _dprice(vehicle: Mapping[str, object]) -> list[Mapping[str, object]]:
    pricing = vehicle.get("pricing")
    items = pricing.get("dprice") if isinstance(pricing, Mapping) else None
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _final_price(dprice: list[Mapping[str, object]]) -> object:
    """The site's own final price, else the advertised total minus its conditional offers.

    A ``finalPrice`` row wins. Otherwise the row flagged ``isFinalPrice`` (the advertised
    price) is reduced by the conditional offers (``SICCI`` rows: military, loyalty, finance
    rebates) listed after it, which is what the site shows as "as low as".
    """
    explicit = next((item.get("value") for item in dprice if item.get("typeClass") == "finalPrice"), None)
    if explicit is not None:
        return explicit
    total_at = next((i for i, item in enumerate(dprice) if item.get("isFinalPrice")), None)
    if total_at is None:
        return None
    total = number(dprice[total_at].get("value"))
    if total is None:
        return None
    offers = [number(item.get("value")) for item in dprice[total_at + 1 :] if item.get("type") == "SICCI"]
    return str(total - sum(offer for offer in offers if offer is not None and offer > 0))


def dealer_com_prices(vehicle: Mapping[str, object]) -> dict[str, object]:
    """Every price the vehicle shows, by name (raw values; absent and "0" ones dropped)."""
    tracking = vehicle.get("trackingPricing")
    tracking = tracking if isinstance(tracking, Mapping) else {}
    pricing = vehicle.get("pricing")
    pricing = pricing if isinstance(pricing, Mapping) else {}
    dprice = _dprice(vehicle)
    by_class = {item.get("typeClass"): item.get("value") for item in reversed(dprice)}
    final = _final_price(dprice)
    prices: dict[str, object] = {
        "internet_price": by_class.get("internetPrice") or tracking.get("internetPrice"),
        "final_price": final,
        "msrp": by_class.get("msrp") or tracking.get("msrp") or pricing.get("retailPrice"),
        "retail_price": pricing.get("retailPrice") or tracking.get("retailValue"),
        "asking_price": tracking.get("askingPrice"),
        "sale_price": tracking.get("salePrice"),
    }
    return {name: value for name, value in prices.items() if money(value) is not None}


def dealer_com_raw(vehicle: Mapping[str, object], *, price_field: PriceField = "internet_price") -> dict[str, object]:
    """One Dealer.com vehicle in contract field names; ``link`` stays relative (pass ``base_url``)."""
    attributes = _attributes(vehicle, "attributes")
    tracking = _attributes(vehicle, "trackingAttributes")
    prices = dealer_com_prices(vehicle)
    other = ("final_price" if price_field == "internet_price" else "internet_price", "asking_price")
    price = next((prices[name] for name in (price_field, *other) if name in prices), None)
    images = vehicle.get("images")
    return {
        "vin": vehicle.get("vin"),
        "stock_number": vehicle.get("stockNumber") or attributes.get("stockNumber"),
        "year": vehicle.get("year"),
        "make": vehicle.get("make"),
        "model": vehicle.get("model"),
        "trim": vehicle.get("trim"),
        "body_style": vehicle.get("bodyStyle"),
        "drivetrain": tracking.get("driveLine") or attributes.get("normalDriveLine"),
        "transmission": attributes.get("transmission") or tracking.get("transmission"),
        "engine": attributes.get("engine"),
        "fuel_type": vehicle.get("fuelType") or tracking.get("fuelType"),
        "exterior_color": attributes.get("exteriorColor") or tracking.get("exteriorColor"),
        "interior_color": attributes.get("interiorColor") or tracking.get("interiorColor"),
        "condition": vehicle.get("condition") or vehicle.get("type"),
        "certified": vehicle.get("certified"),
        "mileage": tracking.get("odometer") or attributes.get("odometer"),
        "price": price,
        "msrp": prices.get("msrp"),
        "other_prices": {name: value for name, value in prices.items() if name != "msrp"},
        "images": [image.get("uri") for image in images if isinstance(image, Mapping)]
        if isinstance(images, list)
        else None,
        "dealer_url": vehicle.get("link"),
        "date_in_stock": vehicle.get("inventoryDate"),
    }
