"""Fixtures for the read API tests: the app served by uvicorn on 127.0.0.1 (port 0) in the
test's event loop, over the test's own database and NATS, and an HTTP client for it.

Test modules import the fixtures they use: ``from tests.integration.api_fixtures import api``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import aiohttp
import asyncpg
import pytest
import uvicorn

from od.api.app import MODULES, create_app
from od.config import Settings


@dataclass
class Api:
    url: str
    http: aiohttp.ClientSession
    settings: Settings

    def get(self, path: str, **kwargs: object) -> aiohttp.client._RequestContextManager:
        return self.http.get(self.url + path, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serve(settings: Settings, modules: Sequence[ModuleType] = MODULES) -> AsyncIterator[str]:
    """Run the app until the block ends; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings, modules=modules),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        access_log=False,
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


T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def add_dealer(
    db: asyncpg.Pool,
    dealer_id: str,
    *,
    lat: float | None = 40.0,
    lng: float | None = -75.0,
    deleted: bool = False,
    updated_at: datetime = T0,
    **columns: Any,
) -> None:
    """A dealers row as the projector writes it (tests write projections directly)."""
    values: dict[str, Any] = {
        "dealer_id": dealer_id,
        "name": f"{dealer_id.title()} Motors",
        "domain": f"{dealer_id}.example",
        "street": "1 Main St",
        "city": "Springfield",
        "region": "PA",
        "postal_code": "19000",
        "country": "US",
        "phone": "+1 555 0100",
        "lat": lat,
        "lng": lng,
        "location_source": "explicit" if lat is not None else None,
        "platforms": ["homenet"],
        "config": '{"homenet": {"rooftop_id": "secret-rooftop"}}',
        "event_id": f"evt-{dealer_id}",
        "event_at": updated_at,
        "updated_at": updated_at,
        "deleted_at": updated_at if deleted else None,
        **columns,
    }
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in values if n != "dealer_id")
    await db.execute(
        f"INSERT INTO dealers ({names}) VALUES ({params}) ON CONFLICT (dealer_id) DO UPDATE SET {updates}",
        *values.values(),
    )


async def add_vehicle(db: asyncpg.Pool, dealer_id: str, key: str, *, updated_at: datetime = T0, **columns: Any) -> str:
    """A vehicles row as the projector writes it; ``key`` is a VIN or ``stock:N``."""
    vehicle_id = f"{dealer_id}:{key}"
    values: dict[str, Any] = {
        "vehicle_id": vehicle_id,
        "dealer_id": dealer_id,
        "vin": None if key.startswith("stock:") else key,
        "stock_number": key.removeprefix("stock:") if key.startswith("stock:") else None,
        "year": 2021,
        "make": "Honda",
        "model": "Civic",
        "trim": "EX",
        "condition": "used",
        "mileage": 12000,
        "price": Decimal("23995.00"),
        "currency": "USD",
        "images": [f"https://img.example/{dealer_id}/{key}/1.jpg"],
        "dealer_url": f"https://{dealer_id}.example/inventory/{key}",
        "status": "available",
        "sources": ["homenet"],
        "first_seen_at": T0,
        "updated_at": updated_at,
        **columns,
    }
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in values if n != "vehicle_id")
    await db.execute(
        f"INSERT INTO vehicles ({names}) VALUES ({params}) ON CONFLICT (vehicle_id) DO UPDATE SET {updates}",
        *values.values(),
    )
    return vehicle_id


def vin(n: int) -> str:
    """A distinct well-formed VIN per number."""
    return f"1HGCM82633A{n:06d}"
