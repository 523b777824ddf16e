"""Great-circle geometry for nearby search (pure: no I/O).

A search circle becomes a latitude band and one or two longitude ranges: two when the circle
crosses the 180° meridian, the whole circle of longitudes when it contains a pole. Points in
the box are candidates; the exact haversine distance then decides (Matuschek, "Finding Points
Within a Distance of a Latitude/Longitude Using Bounding Coordinates").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG); the SQL distance uses the same value."""
_PAD_DEG = 1e-9
"""Widen the box by a hair so floating-point rounding never drops a point on the circle."""


@dataclass(frozen=True)
class BoundingBox:
    lat_min: float
    lat_max: float
    lng_ranges: tuple[tuple[float, float], ...]
    """One or two ``(west, east)`` ranges within [-180, 180], each with west <= east."""

    def contains(self, lat: float, lng: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and any(w <= lng <= e for w, e in self.lng_ranges)

    def as_pairs(self) -> tuple[float, float, float, float]:
        """The longitude ranges as exactly two (the single one repeated): one SQL shape."""
        (w1, e1), (w2, e2) = (self.lng_ranges * 2)[:2]
        return w1, e1, w2, e2


def bounding_box(lat: float, lng: float, radius_km: float) -> BoundingBox:
    """The smallest lat/lng box holding every point within ``radius_km`` of (lat, lng)."""
    angular = radius_km / EARTH_RADIUS_KM
    lat_min = lat - math.degrees(angular) - _PAD_DEG
    lat_max = lat + math.degrees(angular) + _PAD_DEG
    if lat_max >= 90 or lat_min <= -90:
        # A pole is inside the circle: every longitude is.
        return BoundingBox(max(lat_min, -90.0), min(lat_max, 90.0), ((-180.0, 180.0),))
    ratio = math.sin(angular) / math.cos(math.radians(lat))
    if ratio >= 1:
        return BoundingBox(lat_min, lat_max, ((-180.0, 180.0),))
    delta = math.degrees(math.asin(ratio)) + _PAD_DEG
    west, east = lng - delta, lng + delta
    if east - west >= 360:
        return BoundingBox(lat_min, lat_max, ((-180.0, 180.0),))
    if west < -180:
        return BoundingBox(lat_min, lat_max, ((west + 360, 180.0), (-180.0, east)))
    if east > 180:
        return BoundingBox(lat_min, lat_max, ((west, 180.0), (-180.0, east - 360)))
    return BoundingBox(lat_min, lat_max, ((west, east),))


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance on the mean-radius sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
