"""Fixtures for the read API tests: the app served by uvicorn on 127.0.0.1 (port 0) in the
test's event loop, over the test's own database and NATS, and an HTTP client for it.

Test modules import the fixtures they use: ``from tests.integration.api_fixtures import api``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import uvicorn

from od.api.app import create_app
from od.config import Settings


@dataclass
class Api:
    url: str
    http: aiohttp.ClientSession
    settings: Settings

    def get(self, path: str, **kwargs: object) -> aiohttp.client._RequestContextManager:
        return self.http.get(self.url + path, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[str]:
    """Run the app until the block ends; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before starting")
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    settings = settings.replace(public_base_url="https://cars.example.test", indexnow_key="test-indexnow-key-1234")
    async with serve(settings) as url, aiohttp.ClientSession() as http:
        yield Api(url, http, settings)
