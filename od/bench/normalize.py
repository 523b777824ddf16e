"""Normalizing raw HomeNet-like vehicles: ``observation_from_raw`` vs. ``msgspec.convert`` of
the same vehicles already clean (validation only, no cleaning), both measured in this run.

Also times the whole HomeNet CSV path (parse + field mapping + normalization) for the same
vehicles written as an export file. Pure CPU: no servers are used.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.events import VehicleObserved
from od.normalize import observation_from_raw, parse_homenet_csv
from od.normalize.vin import check_digit

AT = datetime(2026, 11, 2, tzinfo=UTC)
CSV_COLUMNS = {
    "Type": "condition", "Stock": "stock_number", "VIN": "vin", "Year": "year", "Make": "make", "Model": "model",
    "Body": "body_style", "Trim": "trim", "ExteriorColor": "exterior_color", "InteriorColor": "interior_color",
    "Transmission": "transmission", "Drivetrain": "drivetrain", "Fuel_Type": "fuel_type",
    "EngineDescription": "engine", "Miles": "mileage", "SellingPrice": "price", "MSRP": "msrp",
    "Internet_Price": "internet_price", "Certified": "certified", "DateInStock": "date_in_stock",
    "Description": "description", "Options": "options", "ImageList": "images", "VehicleDetailUrl": "dealer_url",
}  # fmt: skip


def raw_vehicle(clean: VehicleObserved, i: int) -> dict[str, object]:
    """The vehicle as a HomeNet feed writes it: strings, thousands separators, odd case, entities."""
    vin = clean.vin or ""
    if i % 40:  # most synthetic VINs get a correct check digit; every 40th keeps a wrong one
        vin = vin[:8] + check_digit(vin) + vin[9:]
    price = clean.price or "0"
    return {
        "vin": f" {vin.lower()} " if i % 7 == 0 else vin,
        "stock_number": clean.stock_number,
        "year": str(clean.year),
        "make": (clean.make or "").upper() if i % 3 == 0 else clean.make,
        "model": (clean.model or "").upper() if i % 3 == 0 else clean.model,
        "trim": clean.trim,
        "body_style": {"Sedan": "4dr Car", "SUV": "Sport Utility", "Pickup": "Crew Cab Pickup"}.get(
            clean.body_style or "", clean.body_style
        ),
        "drivetrain": {"FWD": "Front Wheel Drive", "AWD": "All Wheel Drive", "4WD": "4X4"}.get(
            clean.drivetrain or "", clean.drivetrain
        ),
        "transmission": "8-Speed Automatic" if clean.transmission == "Automatic" else clean.transmission,
        "engine": clean.engine,
        "fuel_type": f"{clean.fuel_type} Fuel",
        "exterior_color": clean.exterior_color,
        "interior_color": clean.interior_color,
        "condition": {"new": "New", "used": "Used", "certified": "Used"}[clean.condition or "used"],
        "certified": "True" if clean.condition == "certified" else "False",
        "mileage": f"{clean.mileage:,}",
        "price": f"${float(price):,.0f}" if i % 10 else "0",
        "msrp": clean.msrp,
        "other_prices": {"internet_price": price if i % 2 else "0", "book_value": "0"},
        "images": ",".join(clean.images or []),
        "options": "|".join(clean.options or []),
        "description": (clean.description or "").replace(" and ", " &amp; ") + "\n\n\nCall today!",
        "dealer_url": clean.dealer_url,
        "date_in_stock": clean.date_in_stock.strftime("%m/%d/%Y") if clean.date_in_stock else "",
    }


def homenet_csv(raws: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for raw in raws:
        prices: Any = raw["other_prices"]
        row = {**raw, "internet_price": prices["internet_price"]}
        writer.writerow(["" if row.get(field) is None else row[field] for field in CSV_COLUMNS.values()])
    return ("\ufeff" + out.getvalue()).encode()


def _best(runs: int, body: Callable[[], int]) -> float:
    """Vehicles per second of the best of ``runs`` timings (these machines are noisy)."""
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        count = body()
        best = max(best, count / (time.perf_counter() - started))
    return best


async def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(10_000, 2_000)
    runs = 2 if ctx.smoke else 3
    cleans = [observation(i, dealer_id=f"dealer-{i % 50}", at=AT) for i in range(n)]
    clean_dicts = [msgspec.to_builtins(event) for event in cleans]
    raws = [raw_vehicle(event, i) for i, event in enumerate(cleans)]
    data = homenet_csv(raws)

    def baseline() -> int:
        return len([msgspec.convert(item, VehicleObserved) for item in clean_dicts])

    def normalize(records: list[dict[str, object]]) -> int:
        published = 0
        for raw in records:
            result = observation_from_raw(raw, dealer_id="dealer-1", source="homenet", occurred_at=AT, run_id="bench")
            published += isinstance(result, VehicleObserved)
        assert published == len(records), f"{len(records) - published} rejected"
        return published

    ours = _best(runs, lambda: normalize(raws))
    base = _best(runs, baseline)
    csv_rate = _best(runs, lambda: normalize(list(parse_homenet_csv(data))))
    return [
        Figure("normalize.observation_from_raw", ours, "vehicles/s", base, target=">= 20,000 vehicles/s"),
        Figure("normalize.homenet_csv", csv_rate, "vehicles/s", base, target="none (20,000/s is for SOAP)"),
    ]
