"""The events of the public contract (../shared/CONTRACT.md), as msgspec Structs.

Constraints live on the types (patterns, lengths, ranges), so decoding *is* validation
and every error names the field. Unknown fields are ignored (forward compatible);
``None`` always means "the source did not say", never "erase".
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

DealerId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="dealer id")]
Source = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="homenet, dealer_com, scrape or manual (more may be added)",
    ),
]
Vin = Annotated[str, Meta(pattern=r"^[A-HJ-NPR-Z0-9]{17}$", description="17 characters, no I/O/Q")]
Money = Annotated[str, Meta(pattern=r"^[0-9]{1,10}\.[0-9]{2}$", examples=["23995.00"])]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
Short = Annotated[str, Meta(max_length=200)]
URL_PATTERN = r"^https?://"
Url = Annotated[str, Meta(max_length=2048, pattern=URL_PATTERN)]
ImageUrl = Annotated[str, Meta(max_length=2048, extra_json_schema={"pattern": URL_PATTERN})]
"""A ``Url`` whose scheme ``VehicleObserved`` checks itself (a merged record's images are
observed ones): msgspec matches a pattern with a regular expression, ~0.3 µs a string, and a
vehicle has ~20 images, a third of decoding it."""
_URL_SCHEMES = ("http://", "https://")
UtcTime = Annotated[datetime, Meta(tz=True, description="RFC 3339, UTC")]
Condition = Literal["new", "used", "certified"]

KNOWN_SOURCES: tuple[str, ...] = ("homenet", "dealer_com", "scrape", "manual")


def new_event_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


EventId = Annotated[str, Meta(min_length=1, max_length=128)]


class Event(Struct, kw_only=True, tag_field="type"):
    """The envelope every event carries; ``type`` is the msgspec tag."""

    event_id: EventId = msgspec.field(default_factory=new_event_id)
    version: int = 1
    occurred_at: UtcTime = msgspec.field(default_factory=utcnow)


# --- DealerChanged ---------------------------------------------------------------------------


class Address(Struct, kw_only=True):
    street: Short | None = None
    city: Short | None = None
    region: Short | None = None
    postal_code: Annotated[str, Meta(max_length=20)] | None = None
    country: Annotated[str, Meta(max_length=56)] | None = None


class Location(Struct, kw_only=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lng: Annotated[float, Meta(ge=-180, le=180)]


class HomenetConfig(Struct, kw_only=True):
    rooftop_id: Annotated[str, Meta(min_length=1, max_length=64)]


class DealerComConfig(Struct, kw_only=True):
    site_url: Url
    price_field: Literal["internet_price", "final_price"] = "internet_price"
    """Which Dealer.com price is "the" price: the internet price, or the final price
    after conditional rebates (which not every buyer qualifies for)."""


class ScrapeConfig(Struct, kw_only=True):
    inventory_url: Url
    sitemap_url: Url | None = None


class DealerChanged(Event, tag="DealerChanged"):
    dealer_id: DealerId
    operation: Literal["upsert", "delete"]
    name: Short | None = None
    slug: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")] | None = None
    domain: Short | None = None
    address: Address | None = None
    phone: Annotated[str, Meta(max_length=40)] | None = None
    location: Location | None = None
    platforms: list[Source] = []
    homenet: HomenetConfig | None = None
    dealer_com: DealerComConfig | None = None
    scrape: ScrapeConfig | None = None
    price_preference: Literal["scrape", "homenet"] = "scrape"
    same_as: list[Url] = []
    schedules: dict[str, Annotated[str, Meta(max_length=100)]] = {}
    """Per job type cron expressions overriding the platform defaults (extension)."""
    utm: dict[str, Short] = {}
    """UTM parameters appended to short-link destinations (extension)."""

    def __post_init__(self) -> None:
        if self.operation == "upsert" and not self.name:
            raise ValueError("`name` is required for operation `upsert`")


# --- VehicleObserved ---------------------------------------------------------------------------


class FieldWarning(Struct, kw_only=True, frozen=True):
    field: Short
    code: Short
    detail: Annotated[str, Meta(max_length=500)] = ""


class VehicleFields(Struct, kw_only=True):
    """What a source can say about a vehicle; shared by observations and the merged record."""

    vin: Vin | None = None
    stock_number: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    year: Annotated[int, Meta(ge=1886, le=2100)] | None = None
    make: Short | None = None
    model: Short | None = None
    trim: Short | None = None
    body_style: Short | None = None
    drivetrain: Short | None = None
    transmission: Short | None = None
    engine: Short | None = None
    fuel_type: Short | None = None
    exterior_color: Short | None = None
    interior_color: Short | None = None
    condition: Condition | None = None
    mileage: Annotated[int, Meta(ge=0, le=5_000_000)] | None = None
    price: Money | None = None
    msrp: Money | None = None
    currency: Currency | None = None
    images: Annotated[list[ImageUrl], Meta(max_length=300)] | None = None
    options: Annotated[list[Annotated[str, Meta(max_length=300)]], Meta(max_length=500)] | None = None
    description: Annotated[str, Meta(max_length=20_000)] | None = None
    dealer_url: Url | None = None
    date_in_stock: date | None = None


def vehicle_key(vin: str | None, stock_number: str | None) -> str:
    """A vehicle's identity within its dealer: the VIN, else ``stock:<stock_number>``."""
    if vin:
        return vin
    if stock_number:
        return f"stock:{stock_number}"
    raise ValueError("a vehicle needs `vin` or `stock_number`")


def vehicle_id(dealer_id: str, key: str) -> str:
    return f"{dealer_id}:{key}"


class VehicleObserved(VehicleFields, kw_only=True, tag_field="type", tag="VehicleObserved"):
    # The envelope, spelled out: msgspec allows fields from one base only.
    event_id: EventId = msgspec.field(default_factory=new_event_id)
    version: int = 1
    occurred_at: UtcTime = msgspec.field(default_factory=utcnow)
    dealer_id: DealerId
    source: Source
    run_id: Annotated[str, Meta(max_length=128)] | None = None
    other_prices: dict[Short, Money] = {}
    """The source's other prices (e.g. ``final_price``, ``selling_price``), kept apart."""
    warnings: Annotated[list[FieldWarning], Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        if not self.vin and not self.stock_number:
            raise ValueError("`vin` or `stock_number` is required")
        for i, url in enumerate(self.images or ()):
            if not url.startswith(_URL_SCHEMES):
                raise ValueError(f"Expected `str` matching regex {URL_PATTERN!r} - at `$.images[{i}]`")

    @property
    def key(self) -> str:
        return vehicle_key(self.vin, self.stock_number)

    @property
    def vehicle_id(self) -> str:
        return vehicle_id(self.dealer_id, self.key)


# --- FeedCompleted ------------------------------------------------------------------------------


class FeedCompleted(Event, tag="FeedCompleted"):
    dealer_id: DealerId
    source: Source
    run_id: Annotated[str, Meta(min_length=1, max_length=128)]
    keys: Annotated[list[Annotated[str, Meta(min_length=1, max_length=80)]], Meta(max_length=200_000)]
    """Identities (VIN, or ``stock:<n>``) of every vehicle this full pull saw."""


# --- VehicleChanged -----------------------------------------------------------------------------


class VehicleRecord(VehicleFields, kw_only=True):
    """The merged public record, as the API serves it."""

    vehicle_id: str
    dealer_id: DealerId
    status: Literal["available", "sold"] = "available"
    sources: list[Source] = []
    first_seen_at: UtcTime
    updated_at: UtcTime
    sold_at: UtcTime | None = None
    short_url: Url | None = None
    warnings: list[FieldWarning] = []


ChangedVehicleId = Annotated[str, Meta(max_length=200)]
ChangeKind = Literal["created", "updated", "sold", "relisted"]


class VehicleChanged(Event, tag="VehicleChanged"):
    dealer_id: DealerId
    vehicle_id: ChangedVehicleId
    change: ChangeKind
    vehicle: VehicleRecord
    changed_fields: list[str] = []
    """Public fields whose value changed (extension; empty for ``created``)."""


AnyEvent = DealerChanged | VehicleObserved | FeedCompleted | VehicleChanged
EVENT_TYPES: tuple[type[AnyEvent], ...] = (DealerChanged, VehicleObserved, FeedCompleted, VehicleChanged)
