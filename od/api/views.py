"""What the API answers with, beyond the event model's ``VehicleRecord`` (pure Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from od.events import Address, Location, VehicleRecord
from od.events.model import DealerId, Source


class VehicleCounts(msgspec.Struct, kw_only=True):
    available: int
    sold: int


class DealerView(msgspec.Struct, kw_only=True):
    """A dealer as the public sees it: never its feed credentials or admin configuration."""

    dealer_id: DealerId
    name: str
    slug: str | None = None
    domain: str | None = None
    phone: str | None = None
    address: Address
    location: Location | None = None
    location_source: str | None = None
    platforms: list[Source] = []
    same_as: list[str] = []
    vehicle_counts: VehicleCounts
    updated_at: Annotated[datetime, Meta(tz=True)]


class NearbyVehicle(VehicleRecord, kw_only=True):
    distance_km: Annotated[float, Meta(ge=0, description="great-circle distance from the search point")]
