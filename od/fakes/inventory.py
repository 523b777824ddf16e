"""A dealer's inventory, generated: the one truth every fake source renders in its own format.

Deterministic for a seed, any size. The values carry the quirks seen in the real samples
(../shared/samples): used cars with MSRP 0, call-for-price cars (price 0), new cars with an
odometer of a few miles, certified used cars, stock photos shared by several new cars,
``&`` in names, long multi-line descriptions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from od.normalize.vin import check_digit

# (make, model, trims, body, WMI+VDS prefix of 8 characters)
MODELS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    ("Honda", "Accord Sedan", ("LX", "Sport", "EX-L", "Touring"), "Sedan", "1HGCV1F5"),
    ("Honda", "CR-V", ("LX", "EX", "EX-L", "Sport Touring Hybrid"), "SUV", "2HKRS4H7"),
    ("Honda", "Civic", ("LX", "Sport", "Si", "Type R"), "Sedan", "2HGFE2F5"),
    ("Honda", "Pilot", ("Sport", "EX-L", "TrailSport", "Elite"), "SUV", "5FNYG1H4"),
    ("Honda", "Odyssey", ("EX", "EX-L", "Touring", "Elite"), "Minivan", "5FNRL6H7"),
    ("Toyota", "RAV4", ("LE", "XLE", "XLE Premium", "Limited"), "SUV", "2T3P1RFV"),
    ("Toyota", "Tacoma", ("SR", "SR5", "TRD Off-Road", "Limited"), "Crew Cab Pickup", "3TMCZ5AN"),
    ("Ford", "F-150", ("XL", "XLT", "Lariat", "Platinum"), "SuperCrew Pickup", "1FTFW1E5"),
)
COLORS = ("Platinum White Pearl", "Crystal Black Pearl", "Radiant Red Metallic", "Lunar Silver Metallic")
INTERIORS = ("Black", "Gray", "Ivory", "Black & Gray")
DRIVES = ("FWD", "AWD", "4WD")
TRANSMISSIONS = ("Variable", "Automatic", "10-Speed Automatic")
ENGINES = (("1.5L", 4), ("2.0L", 4), ("3.5L", 6))
OPTIONS = ("Apple CarPlay", "Heated Seats", "Backup Camera", "Blind Spot Monitor", "Sunroof", "Remote Start")
_YEAR_CODES = {2018: "J", 2019: "K", 2020: "L", 2021: "M", 2022: "N", 2023: "P", 2024: "R", 2025: "S", 2026: "T"}
_PLANTS = "ABCEHLU"
UPDATED_BASE = datetime(2025, 8, 1, tzinfo=UTC)


def make_vin(prefix: str, year: int, plant: str, serial: int) -> str:
    """A VIN with a correct check digit: 8 characters, check digit, year, plant, 6 digits."""
    body = f"{prefix}0{_YEAR_CODES[year]}{plant}{serial:06d}"
    return body[:8] + check_digit(body) + body[9:]


@dataclass(frozen=True)
class FakeVehicle:
    vin: str
    stock: str
    condition: str
    """``new`` or ``used``; ``certified`` is a flag on used cars, as the sources say it."""
    certified: bool
    year: int
    make: str
    model: str
    trim: str
    body: str
    drivetrain: str
    transmission: str
    engine_size: str
    cylinders: int
    fuel_type: str
    exterior_color: str
    interior_color: str
    miles: int
    msrp: int
    """0 on used cars, as HomeNet sends them."""
    price: int
    """The internet/selling price; 0 means "call for price"."""
    rebates: int
    """Conditional offers: the final price is ``price - rebates``."""
    images: tuple[str, ...]
    """Image paths (made absolute by each fake's own image host)."""
    options: tuple[str, ...]
    description: str
    in_stock: date
    updated_at: datetime
    uuid: str

    @property
    def engine(self) -> str:
        return f"{self.engine_size} {self.cylinders}"

    @property
    def slug(self) -> str:
        return f"{self.condition}-{self.year}-{self.make}-{self.model}-{self.vin}".lower().replace(" ", "-")


def generate(n: int, *, seed: int = 1) -> list[FakeVehicle]:
    """``n`` vehicles, about half new; deterministic for ``seed``."""
    rng = random.Random(seed)
    stock_photos: dict[str, tuple[str, ...]] = {}
    vehicles = []
    for i in range(n):
        make, model, trims, body, prefix = rng.choice(MODELS)
        new = rng.random() < 0.5
        year = rng.choice((2025, 2026)) if new else rng.randint(2018, 2024)
        vin = make_vin(prefix, year, rng.choice(_PLANTS), 100_000 + (seed * 7919 + i) % 900_000)
        msrp = rng.randint(24, 70) * 1000 + rng.choice((0, 350, 895))
        price = msrp - rng.randint(0, 30) * 50 if new else rng.randint(15, 45) * 1000 - rng.choice((1, 12, 0))
        if rng.random() < 0.03:
            price = 0  # call for price
        engine_size, cylinders = rng.choice(ENGINES)
        if new and rng.random() < 0.3:
            # New cars of one model share the maker's stock photos.
            name = model.lower().replace(" ", "-")
            images = stock_photos.setdefault(model, tuple(f"stock/{name}-{k}.jpg" for k in range(3)))
        else:
            images = tuple(f"photos/{vin}/{k}.jpg" for k in range(rng.randint(2, 6)))
        certified = not new and rng.random() < 0.3
        description = (
            f"{year} {make} {model} {rng.choice(trims)}.\n\n"
            f"{'CARFAX One-Owner. ' if not new else ''}Clean & ready, see dealer for details."
        )
        vehicles.append(
            FakeVehicle(
                vin=vin,
                stock=vin[-8:] if i % 11 else f"S{vin[-6:]}",
                condition="new" if new else "used",
                certified=certified,
                year=year,
                make=make,
                model=model,
                trim=rng.choice(trims),
                body=body,
                drivetrain=rng.choice(DRIVES),
                transmission=rng.choice(TRANSMISSIONS),
                engine_size=engine_size,
                cylinders=cylinders,
                fuel_type="Gasoline Fuel",
                exterior_color=rng.choice(COLORS),
                interior_color=rng.choice(INTERIORS),
                miles=rng.randint(1, 12) if new else rng.randint(5_000, 95_000),
                msrp=msrp if new else 0,
                price=price,
                rebates=rng.choice((0, 0, 500, 1000)) if new else 0,
                images=images,
                options=tuple(rng.sample(OPTIONS, rng.randint(0, 4))),
                description=description,
                in_stock=date(2025, 7, 1) + timedelta(days=rng.randint(0, 55)),
                updated_at=UPDATED_BASE + timedelta(hours=i % 500),
                uuid=f"{rng.getrandbits(128):032x}",
            )
        )
    return vehicles
