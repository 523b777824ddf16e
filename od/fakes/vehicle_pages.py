"""Vehicle pages of a dealer site, only as far as a link checker sees them: every path
answers 200 unless listed as missing (404) or gone (410); ``/moved/<path>`` redirects to
``/<path>``; paths in ``head_refused`` answer HEAD with 405 (as some sites do) but GET with
200."""

from __future__ import annotations

from aiohttp import web

from od.fakes.server import FakeServer


class FakeVehiclePages(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()
        self.gone: set[str] = set()
        self.head_refused: set[str] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/moved/{path:.*}", self._moved)
        app.router.add_route("*", "/{path:.*}", self._page)

    def page(self, path: str) -> str:
        """The absolute URL of ``path`` (``"vehicles/1"`` or ``"/vehicles/1"``)."""
        return f"{self.url}/{path.lstrip('/')}"

    async def _moved(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(f"/{request.match_info['path']}")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        path = request.path
        if path in self.missing:
            return web.Response(status=404, text="Vehicle not found\n")
        if path in self.gone:
            return web.Response(status=410, text="This vehicle has been sold\n")
        if request.method == "HEAD" and path in self.head_refused:
            raise web.HTTPMethodNotAllowed("HEAD", ["GET"])
        return web.Response(text=f"<html><body><h1>{path}</h1></body></html>", content_type="text/html")
