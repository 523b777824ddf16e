"""schema.org ``Car`` JSON-LD for a vehicle, with its ``Offer`` and the ``AutoDealer``
offering it (pure). Fields follow Google's vehicle-listing feed requirements mapped to
schema.org; an absent value is left out, never faked (no price → no ``price``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from od.api import urls
from od.api.views import DealerView
from od.events import VehicleRecord

SCHEMA_ORG = "https://schema.org"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "schema.org Car (JSON-LD) with offers and offeredBy",
    "required": ["@context", "@type", "name", "url", "offers"],
    "properties": {"@context": {"const": SCHEMA_ORG}, "@type": {"const": "Car"}},
}
_CONDITION = {"new": "NewCondition", "used": "UsedCondition", "certified": "UsedCondition"}
_encoder = msgspec.json.Encoder(decimal_format="number")


def _compact(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v is not None and v != [] and v != {}}


def auto_dealer(dealer: DealerView, base_url: str) -> dict[str, Any]:
    address = dealer.address
    return _compact(
        {
            "@type": "AutoDealer",
            "@id": urls.dealer_page(base_url, dealer.dealer_id),
            "name": dealer.name,
            "url": f"https://{dealer.domain}/" if dealer.domain else urls.dealer_page(base_url, dealer.dealer_id),
            "telephone": dealer.phone,
            "address": _compact(
                {
                    "@type": "PostalAddress",
                    "streetAddress": address.street,
                    "addressLocality": address.city,
                    "addressRegion": address.region,
                    "postalCode": address.postal_code,
                    "addressCountry": address.country,
                }
            ),
            "geo": (
                {"@type": "GeoCoordinates", "latitude": dealer.location.lat, "longitude": dealer.location.lng}
                if dealer.location
                else None
            ),
            "sameAs": dealer.same_as,
        }
    )


def car(vehicle: VehicleRecord, dealer: DealerView, base_url: str) -> dict[str, Any]:
    url = urls.vehicle_page(base_url, vehicle.vehicle_id)
    name = " ".join(str(part) for part in (vehicle.year, vehicle.make, vehicle.model, vehicle.trim) if part)
    price = Decimal(vehicle.price) if vehicle.price else None
    offer = _compact(
        {
            "@type": "Offer",
            "price": price if price and price > 0 else None,
            "priceCurrency": vehicle.currency or "USD",
            "availability": f"{SCHEMA_ORG}/{'InStock' if vehicle.status == 'available' else 'SoldOut'}",
            "url": vehicle.dealer_url or url,
            "itemCondition": f"{SCHEMA_ORG}/{_CONDITION[vehicle.condition]}" if vehicle.condition else None,
            "offeredBy": auto_dealer(dealer, base_url),
        }
    )
    return _compact(
        {
            "@context": SCHEMA_ORG,
            "@type": "Car",
            "@id": url,
            "url": url,
            "name": name or vehicle.vehicle_id,
            "vehicleIdentificationNumber": vehicle.vin,
            "sku": vehicle.stock_number,
            "brand": {"@type": "Brand", "name": vehicle.make} if vehicle.make else None,
            "model": vehicle.model,
            "vehicleConfiguration": vehicle.trim,
            "vehicleModelDate": str(vehicle.year) if vehicle.year else None,
            "bodyType": vehicle.body_style,
            "driveWheelConfiguration": vehicle.drivetrain,
            "vehicleTransmission": vehicle.transmission,
            "vehicleEngine": {"@type": "EngineSpecification", "name": vehicle.engine} if vehicle.engine else None,
            "fuelType": vehicle.fuel_type,
            "color": vehicle.exterior_color,
            "vehicleInteriorColor": vehicle.interior_color,
            "mileageFromOdometer": (
                {"@type": "QuantitativeValue", "value": vehicle.mileage, "unitCode": "SMI"}
                if vehicle.mileage is not None
                else None
            ),
            "itemCondition": f"{SCHEMA_ORG}/{_CONDITION[vehicle.condition]}" if vehicle.condition else None,
            "image": vehicle.images,
            "description": vehicle.description,
            "offers": offer,
        }
    )


def encode(document: dict[str, Any]) -> bytes:
    return _encoder.encode(document)


def script_block(document: dict[str, Any]) -> str:
    """A ``<script type="application/ld+json">`` whose content cannot close the element:
    ``<``, ``>`` and ``&`` are written as JSON escapes."""
    text = encode(document).decode().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/ld+json">{text}</script>'
