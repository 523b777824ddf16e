"""Realistic synthetic vehicles for benchmarks: ~40 fields, ~20 image URLs each."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from od.events import FieldWarning, VehicleObserved

MAKES = {
    "Honda": ["Civic", "Accord", "CR-V", "Pilot", "HR-V", "Odyssey"],
    "Toyota": ["Camry", "Corolla", "RAV4", "Highlander", "Tacoma", "Tundra"],
    "Ford": ["F-150", "Escape", "Explorer", "Mustang", "Bronco"],
    "Chevrolet": ["Silverado 1500", "Equinox", "Malibu", "Tahoe"],
}
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def synthetic_vin(rng: random.Random) -> str:
    return "".join(rng.choice(_VIN_CHARS) for _ in range(17))


def observation(
    i: int, *, dealer_id: str, source: str = "homenet", seed: int = 7, at: datetime | None = None
) -> VehicleObserved:
    rng = random.Random(seed * 1_000_003 + i)
    make = rng.choice(list(MAKES))
    model = rng.choice(MAKES[make])
    year = rng.randint(2015, 2026)
    price = rng.randint(12_000, 85_000)
    vin = synthetic_vin(rng)
    base = f"https://images.example-dealer.test/{dealer_id}/{vin}"
    return VehicleObserved(
        event_id=f"bench-{dealer_id}-{source}-{seed}-{i}",
        occurred_at=at or datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i),
        dealer_id=dealer_id,
        source=source,
        run_id=f"run-{seed}",
        vin=vin,
        stock_number=f"S{i:07d}",
        year=year,
        make=make,
        model=model,
        trim=rng.choice(["LX", "EX", "EX-L", "Sport", "Touring", "XLE", "Limited"]),
        body_style=rng.choice(["Sedan", "SUV", "Pickup", "Coupe", "Hatchback"]),
        drivetrain=rng.choice(["FWD", "AWD", "4WD", "RWD"]),
        transmission=rng.choice(["Automatic", "CVT", "Manual"]),
        engine="2.0L I4 DOHC 16V",
        fuel_type=rng.choice(["Gasoline", "Hybrid", "Electric"]),
        exterior_color=rng.choice(["Crystal Black Pearl", "Platinum White Pearl", "Lunar Silver Metallic"]),
        interior_color=rng.choice(["Black", "Gray", "Ivory"]),
        condition=rng.choice(["new", "used", "certified"]),
        mileage=rng.randint(0, 120_000),
        price=f"{price}.00",
        msrp=f"{price + rng.randint(500, 4000)}.00",
        currency="USD",
        images=[f"{base}/{n:02d}.jpg" for n in range(rng.randint(15, 25))],
        options=["Apple CarPlay", "Heated Seats", "Backup Camera", "Blind Spot Monitor", "Sunroof"],
        description=f"{year} {make} {model} in great condition. One owner, clean history. " * 3,
        dealer_url=f"https://www.{dealer_id}.example/inventory/{vin}",
        date_in_stock=date(2026, 10, 1) + timedelta(days=rng.randint(0, 30)),
        other_prices={"final_price": f"{price - 500}.00"},
        warnings=[FieldWarning(field="vin", code="check_digit", detail="check digit mismatch")] if i % 50 == 0 else [],
    )
