"""One realistic, fixed example of every event: for the AsyncAPI document, docs/events.md
and tests. Fixed ids and times, so the generated documents are byte-for-byte stable."""

from __future__ import annotations

from datetime import UTC, date, datetime

from od.events.model import (
    Address,
    AnyEvent,
    DealerChanged,
    DealerComConfig,
    FeedCompleted,
    FieldWarning,
    HomenetConfig,
    Location,
    ScrapeConfig,
    VehicleChanged,
    VehicleObserved,
    VehicleRecord,
    vehicle_id,
)

_AT = datetime(2026, 3, 2, 14, 5, 9, tzinfo=UTC)
_VIN = "1HGCV2F32MA004211"
_PHOTOS = [f"https://images.lakesidehonda.example/inventory/{_VIN}/{n}.jpg" for n in (1, 2, 3)]
_PAGE = "https://www.lakesidehonda.example/used/Honda/2021-Honda-Accord-Sport-1HGCV2F32MA004211.htm"

DEALER_CHANGED = DealerChanged(
    event_id="0b9f3c2e8a5d4f6e9c1a7b3d5e2f4a6c",
    occurred_at=_AT,
    dealer_id="lakeside-honda",
    operation="upsert",
    name="Lakeside Honda",
    slug="lakeside-honda-austin",
    domain="www.lakesidehonda.example",
    address=Address(street="10400 Research Blvd", city="Austin", region="TX", postal_code="78759", country="US"),
    phone="+1 512-555-0142",
    location=Location(lat=30.39554, lng=-97.74702),
    platforms=["homenet", "dealer_com", "scrape"],
    homenet=HomenetConfig(rooftop_id="18842"),
    dealer_com=DealerComConfig(site_url="https://www.lakesidehonda.example/"),
    scrape=ScrapeConfig(inventory_url="https://www.lakesidehonda.example/used-inventory/index.htm"),
    price_preference="homenet",
)

VEHICLE_OBSERVED = VehicleObserved(
    event_id="5d1e7a9c3b2f4e6a8c0d1f3b5a7e9c2d",
    occurred_at=_AT,
    dealer_id="lakeside-honda",
    source="homenet",
    run_id="homenet:lakeside-honda:2026-03-02T14:00Z",
    vin=_VIN,
    stock_number="H24117A",
    year=2021,
    make="Honda",
    model="Accord",
    trim="Sport",
    body_style="Sedan",
    drivetrain="FWD",
    transmission="CVT",
    engine="1.5L I4 Turbo",
    fuel_type="Gasoline",
    exterior_color="Platinum White Pearl",
    interior_color="Black",
    condition="used",
    mileage=31250,
    price="23995.00",
    msrp=None,
    currency="USD",
    images=_PHOTOS,
    options=["Apple CarPlay", "Heated Front Seats"],
    description="One owner, clean history, recent service.",
    dealer_url=_PAGE,
    date_in_stock=date(2026, 2, 20),
    warnings=[FieldWarning(field="msrp", code="zero_price", detail="source sent 0; treated as unknown")],
)

FEED_COMPLETED = FeedCompleted(
    event_id="9a3c5e7b1d2f4a6c8e0b2d4f6a8c1e3b",
    occurred_at=_AT,
    dealer_id="lakeside-honda",
    source="homenet",
    run_id="homenet:lakeside-honda:2026-03-02T14:00Z",
    keys=[_VIN, "2T3P1RFV5NC012345", "stock:H24121"],
)

VEHICLE_CHANGED = VehicleChanged(
    event_id="c4e6a8b0d2f1e3a5c7b9d0f2a4c6e8b1",
    occurred_at=datetime(2026, 3, 2, 14, 5, 11, tzinfo=UTC),
    dealer_id="lakeside-honda",
    vehicle_id=vehicle_id("lakeside-honda", _VIN),
    change="updated",
    changed_fields=["price"],
    vehicle=VehicleRecord(
        vehicle_id=vehicle_id("lakeside-honda", _VIN),
        dealer_id="lakeside-honda",
        vin=_VIN,
        stock_number="H24117A",
        year=2021,
        make="Honda",
        model="Accord",
        trim="Sport",
        body_style="Sedan",
        condition="used",
        mileage=31250,
        price="23995.00",
        currency="USD",
        images=_PHOTOS,
        dealer_url=_PAGE,
        date_in_stock=date(2026, 2, 20),
        status="available",
        sources=["homenet", "scrape"],
        first_seen_at=datetime(2026, 2, 20, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 3, 2, 14, 5, 11, tzinfo=UTC),
    ),
)

EXAMPLES: dict[str, AnyEvent] = {
    "DealerChanged": DEALER_CHANGED,
    "VehicleObserved": VEHICLE_OBSERVED,
    "FeedCompleted": FEED_COMPLETED,
    "VehicleChanged": VEHICLE_CHANGED,
}
"""Keyed by event type."""
