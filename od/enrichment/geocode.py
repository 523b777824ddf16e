"""Dealer geocoding (``od worker --only geocoder``): a ``DealerChanged`` upsert with an
address and no ``location`` gets coordinates from a pluggable geocoder, through a cache keyed
by the normalized address.

The dealer projector writes the ``dealers`` row from the same event, in its own time. This
worker writes only ``lat``, ``lng`` and ``location_source``, and only to a row that already
reflects this event (or a later one) with the same address and no explicit location: an
explicit location always wins, and whichever of the two consumers runs first, the result is
the same. Until the projector has caught up, the message waits (redelivered with backoff).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiohttp
import asyncpg
import msgspec

from od import bus
from od.config import Settings
from od.enrichment.address import address_key, address_query
from od.enrichment.consumer import MessageWorker, Permanent, RetryLater
from od.enrichment.http import (
    TRANSIENT_HTTP_ERRORS,
    client_session,
    gate_for,
    is_transient_status,
    parse_retry_after,
)
from od.events import Address, AnyEvent, DealerChanged
from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)

CONSUMER = "geocoder"


class Place(msgspec.Struct, frozen=True):
    lat: float
    lng: float
    display_name: str | None
    source: str
    """The geocoder that found it: ``location_source`` becomes ``geocoded:<source>``."""


class Geocoder(Protocol):
    name: str

    async def geocode(self, query: str) -> Place | None:
        """The best place for a free-form address; ``None`` when there is none. Raises
        :class:`RetryLater` / :class:`Permanent` for failures."""
        ...


class _NominatimPlace(msgspec.Struct):
    lat: str
    lon: str
    display_name: str | None = None


class Nominatim:
    """A Nominatim-compatible API: ``GET /search?q=…&format=jsonv2`` answers a JSON array of
    places whose ``lat`` / ``lon`` are strings."""

    name = "nominatim"

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._url = settings.geocoder_url.rstrip("/")
        self._session = session
        self._gate = gate_for(f"geocoder {self._url}", settings.geocoder_rate_per_s)

    async def geocode(self, query: str) -> Place | None:
        await self._gate.wait()
        params = {"q": query, "format": "jsonv2", "limit": "1"}
        try:
            async with self._session.get(f"{self._url}/search", params=params) as r:
                status, body, retry_after = r.status, await r.read(), r.headers.get("Retry-After")
        except TRANSIENT_HTTP_ERRORS as exc:
            raise RetryLater(f"geocoder unreachable: {exc!r}") from exc
        if status == 429:
            delay = parse_retry_after(retry_after, default=60.0)
            self._gate.pause(delay)
            raise RetryLater(f"geocoder rate limit (429), retry in {delay:.0f}s", delay=delay, counts=False)
        if is_transient_status(status):
            raise RetryLater(f"geocoder answered {status}")
        if status != 200:
            raise Permanent(f"geocoder refused the query ({status}): {body[:200].decode('utf-8', 'replace')}")
        try:
            places = msgspec.json.decode(body, type=list[_NominatimPlace])
            if not places:
                return None
            lat, lng = float(places[0].lat), float(places[0].lon)
        except (msgspec.DecodeError, ValueError) as exc:
            raise RetryLater(f"geocoder answered an unreadable place: {exc}") from exc
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise Permanent(f"geocoder answered impossible coordinates {lat}, {lng}")
        return Place(lat, lng, places[0].display_name, self.name)


GEOCODERS: dict[str, Callable[[Settings, aiohttp.ClientSession], Geocoder]] = {"nominatim": Nominatim}


def needs_geocoding(event: DealerChanged) -> bool:
    return event.operation == "upsert" and event.location is None and event.address is not None


class DealerGeocoder:
    def __init__(self, runtime: Runtime, geocoder: Geocoder) -> None:
        self._pool = runtime.pool
        self._geocoder = geocoder

    async def handle(self, event: DealerChanged) -> str:
        """Returns the outcome: ``skipped`` (nothing to geocode), ``superseded`` (a later event
        or an explicit location owns the row), ``cache_hit`` or ``geocoded``."""
        if not needs_geocoding(event):
            return "skipped"
        assert event.address is not None
        key = address_key(event.address)
        if key is None:
            return "skipped"
        if not _applies(await self._pool.fetchrow(_ROW, event.dealer_id), event, key):
            return "superseded"
        place, outcome = await self._place(key, event.address)
        async with self._pool.acquire() as conn, conn.transaction():
            # Checked again under the row lock: the projector may have written meanwhile.
            if not _applies(await conn.fetchrow(_ROW + " FOR UPDATE", event.dealer_id), event, key):
                return "superseded"
            await conn.execute(
                """UPDATE dealers SET lat = $2, lng = $3, location_source = $4, updated_at = now()
                   WHERE dealer_id = $1 AND (lat, lng, location_source) IS DISTINCT FROM ($2, $3, $4)""",
                event.dealer_id,
                place.lat,
                place.lng,
                f"geocoded:{place.source}",
            )
        return outcome

    async def _place(self, key: str, address: Address) -> tuple[Place, str]:
        row = await self._pool.fetchrow(
            "SELECT lat, lng, display_name, source FROM geocode_cache WHERE address_key = $1", key
        )
        if row is not None:
            return Place(row["lat"], row["lng"], row["display_name"], row["source"]), "cache_hit"
        query = address_query(address)
        place = await self._geocoder.geocode(query)
        if place is None:
            raise Permanent(f"the geocoder found no place for {query!r}: give the dealer an explicit location")
        await self._pool.execute(
            """INSERT INTO geocode_cache (address_key, query, lat, lng, display_name, source)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (address_key) DO NOTHING""",
            key,
            query,
            place.lat,
            place.lng,
            place.display_name,
            place.source,
        )
        return place, "geocoded"


_ROW = """SELECT street, city, region, postal_code, country, location_source, event_at, deleted_at
          FROM dealers WHERE dealer_id = $1"""


def _applies(row: asyncpg.Record | None, event: DealerChanged, key: str) -> bool:
    """Whether the dealer row takes this event's geocode: it reflects this event or a later
    one, with the same address, no explicit location, not deleted. Raises
    :class:`RetryLater` while the projection has not applied the event yet."""
    if row is None or row["event_at"] < event.occurred_at:
        raise RetryLater("the dealer projection has not applied this event yet", counts=False)
    if row["deleted_at"] is not None or row["location_source"] == "explicit":
        return False
    address = Address(
        street=row["street"],
        city=row["city"],
        region=row["region"],
        postal_code=row["postal_code"],
        country=row["country"],
    )
    return address_key(address) == key


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """Worker kind ``geocoder``: coordinates for ``DealerChanged`` on ``OD_DEALERS``."""
    settings = runtime.settings
    make_geocoder = GEOCODERS.get(settings.geocoder_provider)
    if make_geocoder is None:
        log.error("geocoder.disabled", reason=f"OD_GEOCODER_PROVIDER must be one of {', '.join(GEOCODERS)}")
        await stop.wait()
        return
    async with client_session(settings, limit=4) as session:
        geocoder = DealerGeocoder(runtime, make_geocoder(settings, session))

        async def handle(event: AnyEvent, _msg: object) -> None:
            if isinstance(event, DealerChanged):
                worker.counts[await geocoder.handle(event)] += 1

        # One at a time, in stream order: the geocoder allows about one request a second
        # anyway, and the second dealer at an address then finds the first one's answer cached.
        worker = MessageWorker(runtime, CONSUMER, handle, key=lambda _: "")
        stream = runtime.subjects.stream("OD_DEALERS")
        await bus.PullConsumer(runtime.nc, stream, CONSUMER, worker, batch=50).run(stop)
