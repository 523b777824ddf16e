"""A real local HTTP server (aiohttp.web on 127.0.0.1, a free port) that records what it
received and can misbehave on demand: the base of every fake source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Self

from aiohttp import web


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    """``time.monotonic()`` when the request arrived."""


@dataclass
class Fault:
    """How to misbehave for one request."""

    status: int | None = None
    """Answer this status (with a short body) instead of the real answer."""
    delay_s: float = 0.0
    """Wait this long before answering (past the client's timeout, it times out)."""
    truncate: bool = False
    """Promise the full length, send half of it, drop the connection."""
    garbage: bool = False
    """Answer 200 with a body that is not what the protocol promises."""
    retry_after: str | None = None
    times: int | None = None
    """Misbehave this many times, then answer normally (None: always)."""

    def use(self) -> bool:
        """Whether this request gets the fault (and count it)."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


GARBAGE = b"<html><body><h1>502 Bad Gateway</h1>\x00\x00\xff garbled"


class FakeServer:
    """Subclasses add their routes in ``routes``; ``start()`` binds 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._port = 0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._port}"

    def received(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def start(self, port: int = 0) -> Self:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body, time.monotonic())
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def answer(
        request: web.Request, body: bytes, content_type: str, fault: Fault | None = None, *, status: int = 200
    ) -> web.StreamResponse:
        """Send ``body``, or misbehave as ``fault`` says."""
        if fault is None or not fault.use():
            return web.Response(body=body, status=status, headers={"Content-Type": content_type})
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        if fault.status is not None:
            return web.Response(status=fault.status, text=f"fault: HTTP {fault.status}\n", headers=headers)
        if fault.garbage:
            return web.Response(body=GARBAGE, headers={"Content-Type": content_type})
        if fault.truncate:
            resp = web.StreamResponse(headers={"Content-Type": content_type, "Content-Length": str(len(body))})
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})
