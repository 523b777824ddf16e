"""A Rebrandly-compatible short-link API on 127.0.0.1: ``POST /v1/links`` (key in the
``apikey`` header, JSON ``{destination, domain: {fullName}}``), ``GET /v1/links`` and
``GET /v1/links/{id}``, answering Rebrandly's link and error shapes. It enforces its own
rate limit (429 with ``Retry-After``) and records every request."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from od.fakes.server import FakeServer, Fault

JSON = "application/json; charset=utf-8"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"httpCode": status, "code": code, "message": message, **extra}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class FakeRebrandly(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "test-rebrandly-key",
        domain: str = "rebrand.ly",
        rate_per_s: float | None = None,
        fault: Fault | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.domain = domain
        self.rate_per_s = rate_per_s
        """Requests per second before 429 (a bucket of one second's worth); None: unlimited."""
        self.fault = fault
        """Misbehave on ``POST /v1/links`` (e.g. ``Fault(status=429, retry_after="1", times=1)``)."""
        self.links: dict[str, dict[str, Any]] = {}
        self.rate_limited = 0
        self._serial = itertools.count(1)
        self._tokens = rate_per_s or 0.0
        self._refilled = time.monotonic()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/links", self._create)
        app.router.add_get("/v1/links", self._list)
        app.router.add_get("/v1/links/{id}", self._get)

    @property
    def created(self) -> list[str]:
        """Destinations of the links created, in order."""
        return [link["destination"] for link in self.links.values()]

    def _allow(self) -> float:
        """0 when the request may pass, else the seconds until it could."""
        if self.rate_per_s is None:
            return 0.0
        now = time.monotonic()
        self._tokens = min(self.rate_per_s, self._tokens + (now - self._refilled) * self.rate_per_s)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate_per_s

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("apikey") == self.api_key

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if self.fault is not None and self.fault.use():
            return await self.answer(request, b"", JSON, dataclasses.replace(self.fault, times=None))
        if not self._authorized(request):
            return _error(401, "Unauthorized", "Unauthorized")
        if wait := self._allow():
            self.rate_limited += 1
            response = _error(429, "RateLimitExceeded", "Too many requests")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        try:
            data = await request.json()
        except ValueError:
            return _error(400, "InvalidFormat", "Invalid JSON body")
        destination = data.get("destination") if isinstance(data, dict) else None
        if not isinstance(destination, str) or not destination.startswith(("http://", "https://")):
            return _error(400, "InvalidFormat", "Invalid format", source="link", property="destination")
        domain = (data.get("domain") or {}).get("fullName") or self.domain
        link = self._link(destination, domain)
        self.links[link["id"]] = link
        return web.json_response(link)

    def _link(self, destination: str, domain: str) -> dict[str, Any]:
        n = next(self._serial)
        slashtag = "".join(_ALPHABET[(n * 7919 // 62**i) % 62] for i in range(5))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {
            "id": uuid.uuid4().hex,
            "title": None,
            "slashtag": slashtag,
            "destination": destination,
            "createdAt": now,
            "updatedAt": now,
            "status": "active",
            "tags": [],
            "scripts": [],
            "forwardParameters": True,
            "clicks": 0,
            "lastClickAt": None,
            "isPublic": False,
            "shortUrl": f"{domain}/{slashtag}",
            "domainId": "8f104cc5b6ee4a4ba7897b06ac2ddcfb",
            "domainName": domain,
            "domain": {"id": "8f104cc5b6ee4a4ba7897b06ac2ddcfb", "ref": "/domains/8f104cc5", "fullName": domain},
            "https": True,
            "favourite": False,
            "integrated": False,
        }

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "Unauthorized", "Unauthorized")
        links = list(self.links.values())
        if "domain.fullName" in request.query:
            links = [li for li in links if li["domainName"] == request.query["domain.fullName"]]
        if "slashtag" in request.query:
            links = [li for li in links if li["slashtag"] == request.query["slashtag"]]
        return web.json_response(links[: int(request.query.get("limit", "25"))])

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "Unauthorized", "Unauthorized")
        link = self.links.get(request.match_info["id"])
        if link is None:
            return _error(404, "NotFound", "Not found", source="link", id=request.match_info["id"])
        return web.json_response(link)
