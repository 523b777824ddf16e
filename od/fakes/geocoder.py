"""A Nominatim-compatible geocoder on 127.0.0.1: ``GET /search?q=…&format=jsonv2`` answers a
JSON array of places with ``lat`` / ``lon`` as strings, as Nominatim does. Known queries
answer their configured place; others a stable point derived from the query, or nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from aiohttp import web

from od.fakes.server import FakeServer, Fault

JSON = "application/json; charset=utf-8"
LICENCE = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright"


class FakeNominatim(FakeServer):
    def __init__(
        self,
        places: dict[str, tuple[float, float]] | None = None,
        *,
        derive_unknown: bool = True,
        fault: Fault | None = None,
    ) -> None:
        super().__init__()
        self.places = {q.casefold(): p for q, p in (places or {}).items()}
        """Query (case-insensitive) -> (lat, lng)."""
        self.derive_unknown = derive_unknown
        """Unknown queries: a stable point in the contiguous US (True), or no match (False)."""
        self.fault = fault

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/search", self._search)

    @property
    def queries(self) -> list[str]:
        return [r.query.get("q", "") for r in self.received("/search")]

    def place_for(self, query: str) -> tuple[float, float] | None:
        if query.casefold() in self.places:
            return self.places[query.casefold()]
        if not self.derive_unknown:
            return None
        digest = hashlib.sha256(query.casefold().encode()).digest()
        lat = 25.0 + int.from_bytes(digest[:4]) / 2**32 * 24.0
        lng = -124.0 + int.from_bytes(digest[4:8]) / 2**32 * 57.0
        return round(lat, 7), round(lng, 7)

    async def _search(self, request: web.Request) -> web.StreamResponse:
        if self.fault is not None and self.fault.use():
            return await self.answer(request, b"[]", JSON, dataclasses.replace(self.fault, times=None))
        query = request.query.get("q", "").strip()
        if request.query.get("format") not in ("json", "jsonv2"):
            return web.Response(status=400, text="this fake answers format=json or format=jsonv2 only\n")
        if not query:
            body = {"error": {"code": 400, "message": "Nothing to search for."}}
            return web.Response(status=400, text=json.dumps(body), content_type="application/json")
        place = self.place_for(query)
        if place is None:
            return web.Response(text="[]", content_type="application/json")
        lat, lng = place
        osm_id = int.from_bytes(hashlib.sha256(query.encode()).digest()[:4])
        result = {
            "place_id": osm_id % 10**9,
            "licence": LICENCE,
            "osm_type": "way",
            "osm_id": osm_id,
            "lat": f"{lat:.7f}",
            "lon": f"{lng:.7f}",
            "category": "shop",
            "type": "car",
            "place_rank": 30,
            "importance": 0.00009999999999995,
            "addresstype": "shop",
            "name": "",
            "display_name": query,
            "boundingbox": [f"{lat - 0.0005:.7f}", f"{lat + 0.0005:.7f}", f"{lng - 0.0005:.7f}", f"{lng + 0.0005:.7f}"],
        }
        return web.Response(text=json.dumps([result]), content_type="application/json")
