"""``/v1/vehicles``: filtered listing with keyset pagination, nearby search, one vehicle
(JSON, or schema.org ``Car`` JSON-LD on ``Accept: application/ld+json``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from od.api import jsonld, store
from od.api.cursor import decode_cursor, encode_cursor
from od.api.httputil import negotiate
from od.api.problems import Problem
from od.api.routing import JSON, Operation, json_response, runtime
from od.api.views import NearbyVehicle
from od.events import VehicleRecord

Limit = Annotated[int, Meta(ge=1, le=200, description="page size, at most 200")]
Cursor = Annotated[str, Meta(max_length=1024, description="`next_cursor` of the previous page, opaque")]
MAX_RADIUS_KM = 500.0
LD_JSON = "application/ld+json"


class VehicleQuery(store.VehicleFilters, kw_only=True, forbid_unknown_fields=True):
    limit: Limit = 50
    cursor: Cursor | None = None


class NearbyQuery(VehicleQuery, kw_only=True, forbid_unknown_fields=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lng: Annotated[float, Meta(ge=-180, le=180)]
    radius_km: Annotated[float, Meta(gt=0, le=MAX_RADIUS_KM)]


class VehiclePath(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    vehicle_id: Annotated[
        str,
        Meta(
            min_length=3,
            max_length=200,
            pattern=store.PRINTABLE,
            description="`dealer-id:VIN` or `dealer-id:stock:NUMBER`",
        ),
    ]


class VehiclePage(msgspec.Struct, kw_only=True):
    items: list[VehicleRecord]
    next_cursor: str | None


class NearbyPage(msgspec.Struct, kw_only=True):
    items: list[NearbyVehicle]
    next_cursor: str | None


def _filters(query: VehicleQuery) -> store.VehicleFilters:
    """The listing's identity (its filters, and for nearby its circle): what cursors bind to."""
    for low, high in (("year_min", "year_max"), ("price_min", "price_max")):
        lo, hi = getattr(query, low), getattr(query, high)
        if lo is not None and hi is not None and lo > hi:
            raise Problem.bad_param(low, f"greater than `{high}`")
    return msgspec.structs.replace(query, limit=0, cursor=None)


async def list_vehicles(request: Request, query: VehicleQuery) -> Response:
    filters = _filters(query)
    after = None
    if query.cursor is not None:
        (after,) = decode_cursor(query.cursor, tuple[str], scope="vehicles", filters=filters)
    rows = await store.list_vehicles(runtime(request).pool, filters, after=after, limit=query.limit + 1)
    items, last = store.split_page(rows, query.limit)
    next_cursor = None if last is None else encode_cursor((last[0],), scope="vehicles", filters=filters)
    return page_response([item for _, item in items], next_cursor)


async def nearby_vehicles(request: Request, query: NearbyQuery) -> Response:
    filters = _filters(query)
    after = None
    if query.cursor is not None:
        after = decode_cursor(query.cursor, tuple[float, str], scope="nearby", filters=filters)
    rows = await store.nearby_vehicles(
        runtime(request).pool,
        filters,
        lat=query.lat,
        lng=query.lng,
        radius_km=query.radius_km,
        after=after,
        limit=query.limit + 1,
    )
    items, last = store.split_page(rows, query.limit)
    next_cursor = None if last is None else encode_cursor(last[:2], scope="nearby", filters=filters)
    # NearbyVehicle is the record and then its distance: the record's JSON, one field longer.
    return page_response([f'{item[:-1]}, "distance_km" : {distance!r}}}' for distance, _, item in items], next_cursor)


async def get_vehicle(request: Request, path: VehiclePath) -> Response:
    rt = runtime(request)
    vehicle = await store.get_vehicle(rt.pool, path.vehicle_id)
    if vehicle is None:
        raise Problem(404, f"no vehicle `{path.vehicle_id}`")
    headers = {"Vary": "Accept"}
    if negotiate(request.headers.get("accept"), (JSON, LD_JSON)) == LD_JSON:
        dealer = await store.get_dealer(rt.pool, vehicle.dealer_id)
        assert dealer is not None  # the vehicle is visible, so its dealer is
        document = jsonld.car(vehicle, dealer, rt.settings.public_base_url)
        return Response(jsonld.encode(document), headers=headers, media_type=LD_JSON)
    return json_response(vehicle, headers=headers)


def page_response(items: list[str], next_cursor: str | None) -> Response:
    """A ``VehiclePage`` / ``NearbyPage`` whose items Postgres wrote as JSON already
    (``store.VEHICLE_JSON``): spliced into the page, not decoded and encoded again."""
    body = f'{{"items":[{",".join(items)}],"next_cursor":{msgspec.json.encode(next_cursor).decode()}}}'
    return Response(body.encode(), media_type=JSON)


operations = [
    Operation(
        "GET", "/v1/vehicles", list_vehicles, "Vehicles, filtered, in `vehicle_id` order",
        params=VehicleQuery, responses={JSON: VehiclePage}, tags=("vehicles",),
    ),
    # Before /v1/vehicles/{vehicle_id}, which would match "nearby".
    Operation(
        "GET", "/v1/vehicles/nearby", nearby_vehicles, "Vehicles within `radius_km` of a point, nearest first",
        params=NearbyQuery, responses={JSON: NearbyPage}, tags=("vehicles",),
    ),
    Operation(
        "GET", "/v1/vehicles/{vehicle_id:path}", get_vehicle, "One vehicle (JSON, or schema.org Car as JSON-LD)",
        params=VehiclePath, responses={JSON: VehicleRecord, LD_JSON: jsonld.SCHEMA}, errors=(404,),
        tags=("vehicles",),
    ),
]  # fmt: skip
