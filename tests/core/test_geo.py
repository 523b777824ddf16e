"""Nearby-search geometry: the bounding box never loses a point of the circle, across the
180° meridian and around the poles; haversine agrees with known distances."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from od.api.geo import EARTH_RADIUS_KM, bounding_box, haversine_km

lats = st.floats(min_value=-90, max_value=90, allow_nan=False)
lngs = st.floats(min_value=-180, max_value=180, allow_nan=False)
radii = st.floats(min_value=0.001, max_value=500)


def destination(lat: float, lng: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lng) along the initial ``bearing`` (great circle)."""
    d = distance_km / EARTH_RADIUS_KM
    p1, l1, b = math.radians(lat), math.radians(lng), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    lng2 = (math.degrees(l2) + 540) % 360 - 180
    return math.degrees(p2), lng2


@settings(max_examples=400, deadline=None)
@given(lats, lngs, radii, st.floats(min_value=0, max_value=360), st.floats(min_value=0, max_value=1))
def test_every_point_of_the_circle_is_in_the_box(lat, lng, radius, bearing, fraction) -> None:
    point = destination(lat, lng, bearing, radius * fraction)
    assert haversine_km(lat, lng, *point) <= radius * (1 + 1e-9) + 1e-9
    assert bounding_box(lat, lng, radius).contains(*point)


@given(lats, lngs, radii)
def test_box_ranges_are_well_formed(lat, lng, radius) -> None:
    box = bounding_box(lat, lng, radius)
    assert -90 <= box.lat_min <= lat <= box.lat_max <= 90
    assert 1 <= len(box.lng_ranges) <= 2
    for west, east in box.lng_ranges:
        assert -180 <= west <= east <= 180
    assert len(box.as_pairs()) == 4


def test_antimeridian_splits_the_longitudes() -> None:
    box = bounding_box(-17.0, 179.95, 50)  # Fiji
    assert len(box.lng_ranges) == 2
    assert box.contains(-17.0, -179.9) and box.contains(-17.0, 179.9)
    assert not box.contains(-17.0, 0.0)
    assert not box.contains(-13.8, -171.8)  # Apia, Samoa: ~900 km away


def test_a_pole_in_the_circle_takes_every_longitude() -> None:
    box = bounding_box(89.9, 0.0, 100)
    assert box.lat_max == 90 and box.lng_ranges == ((-180.0, 180.0),)
    assert box.contains(89.5, 179.0)


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ((0.0, -179.95), (0.0, 179.95), 11.12),  # across the antimeridian
        ((51.5007, -0.1246), (40.6892, -74.0445), 5574.8),  # Big Ben to the Statue of Liberty
        ((90.0, 0.0), (-90.0, 0.0), math.pi * EARTH_RADIUS_KM),
    ],
)
def test_known_distances(a, b, km) -> None:
    assert haversine_km(*a, *b) == pytest.approx(km, rel=1e-3)


@given(lats, lngs, lats, lngs)
def test_haversine_is_a_symmetric_distance(lat1, lng1, lat2, lng2) -> None:
    d = haversine_km(lat1, lng1, lat2, lng2)
    assert d == pytest.approx(haversine_km(lat2, lng2, lat1, lng1), abs=1e-6)
    assert 0 <= d <= math.pi * EARTH_RADIUS_KM + 1e-6
    assert haversine_km(lat1, lng1, lat1, lng1) == 0
