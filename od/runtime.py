"""The connections a long-running command shares: NATS, a Postgres pool, a publisher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NatsClient

from od import bus
from od.config import Settings
from od.events import Subjects


@dataclass
class Runtime:
    settings: Settings
    nc: NatsClient
    pool: asyncpg.Pool
    subjects: Subjects
    publisher: bus.Publisher

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        name: str = "od",
        pool_size: int = 10,
        server_settings: dict[str, str] | None = None,
        reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> Runtime:
        if not settings.nats_url or not settings.database_url:
            raise SystemExit("OD_NATS_URL and OD_DATABASE_URL must be set (or run `od demo`)")
        nc = await bus.connect(settings.nats_url, name=name)
        pool = await create_pool(
            settings.database_url, max_size=pool_size, server_settings=server_settings, reset=reset
        )
        subjects = Subjects(settings.namespace)
        return cls(settings, nc, pool, subjects, bus.Publisher(nc, subjects))

    async def close(self) -> None:
        await self.pool.close()
        await self.nc.drain()


async def create_pool(
    database_url: str,
    *,
    max_size: int = 10,
    server_settings: dict[str, str] | None = None,
    reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """``server_settings``: session parameters for every connection (e.g. the API's plan cache
    mode); ``reset``: what a released connection runs after asyncpg rolls back any open
    transaction (default: asyncpg's reset query, which undoes SET, LISTEN, advisory locks)."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        command_timeout=60,
        server_settings=server_settings,
        reset=reset,
    )
    assert pool is not None
    return pool
