"""An IndexNow endpoint on 127.0.0.1: ``POST /indexnow`` with JSON
``{host, key, keyLocation, urlList}``, checked as the protocol says (400 bad request or more
than 10,000 URLs, 403 wrong key, 422 URLs or key location off the host), 200 when accepted.
Every accepted submission is kept for the test to read."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from od.fakes.server import FakeServer, Fault

MAX_URLS = 10_000
_KEY = re.compile(r"^[A-Za-z0-9-]{8,128}$")


@dataclass(frozen=True)
class Submission:
    host: str
    key: str
    key_location: str | None
    urls: list[str]


def _on_host(url: str, host: str) -> bool:
    """``urlsplit(url).hostname == host`` for the usual shapes, a hundred times cheaper (a
    benchmark sends this fake 100,000 URLs from the same process)."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            return rest == host or rest.startswith((host + "/", host + ":", host + "?", host + "#"))
    return urlsplit(url).hostname == host


class FakeIndexNow(FakeServer):
    def __init__(self, *, key: str | None = None, fault: Fault | None = None, accept_status: int = 200) -> None:
        super().__init__()
        self.key = key
        """The site's key (None: any well-formed key is accepted)."""
        self.fault = fault
        self.accept_status = accept_status
        self.submissions: list[Submission] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/indexnow", self._submit)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/indexnow"

    @property
    def urls(self) -> list[str]:
        """Every URL accepted, in order, duplicates kept."""
        return [u for s in self.submissions for u in s.urls]

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        if self.fault is not None and self.fault.use():
            return await self.answer(request, b"", "text/plain", dataclasses.replace(self.fault, times=None))
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="Bad request: the body is not JSON\n")
        if not isinstance(data, dict):
            return web.Response(status=400, text="Bad request: expected a JSON object\n")
        host, key, location, urls = data.get("host"), data.get("key"), data.get("keyLocation"), data.get("urlList")
        if not isinstance(host, str) or not isinstance(key, str) or not isinstance(urls, list) or not urls:
            return web.Response(status=400, text="Bad request: host, key and urlList are required\n")
        if len(urls) > MAX_URLS:
            return web.Response(status=400, text=f"Bad request: more than {MAX_URLS} URLs\n")
        if not _KEY.match(key) or (self.key is not None and key != self.key):
            return web.Response(status=403, text="Forbidden: the key is not valid\n")
        if not all(isinstance(u, str) and _on_host(u, host) for u in urls):
            return web.Response(status=422, text="Unprocessable Entity: URLs do not belong to the host\n")
        if location is not None and not (isinstance(location, str) and _on_host(location, host)):
            return web.Response(status=422, text="Unprocessable Entity: keyLocation is not on the host\n")
        self.submissions.append(Submission(host, key, location, urls))
        return web.Response(status=self.accept_status)
