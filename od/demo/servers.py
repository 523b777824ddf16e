"""The demo's NATS and PostgreSQL: the ones ``OD_NATS_URL`` / ``OD_DATABASE_URL`` name, else
embedded servers with their data under ``settings.data_dir`` (``.od/``), so a second run finds
the streams and tables of the first. Either way, streams and migrations are applied."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from od import bus, migrate, streams
from od.config import Settings
from od.demo.sources import port_or_free
from od.embedded import EmbeddedNats, EmbeddedPostgres
from od.events import Subjects

NATS_PORT = 14222
POSTGRES_PORT = 15432


@dataclass(frozen=True)
class Servers:
    nats_url: str
    database_url: str
    embedded: bool


@contextlib.asynccontextmanager
async def servers(settings: Settings) -> AsyncIterator[Servers]:
    """The servers to use, started if need be (and stopped on exit)."""
    started: list[EmbeddedNats | EmbeddedPostgres] = []
    try:
        nats_url = settings.nats_url
        if not nats_url:
            nats = EmbeddedNats(settings.data_dir / "nats", port=port_or_free(NATS_PORT), sync=settings.nats_sync)
            started.append(await asyncio.to_thread(nats.start))
            nats_url = nats.url
        database_url = settings.database_url
        if not database_url:
            pg = EmbeddedPostgres(settings.data_dir / "postgres", port=port_or_free(POSTGRES_PORT))
            started.append(await asyncio.to_thread(pg.start))
            database_url = pg.url
        yield Servers(nats_url, database_url, embedded=bool(started))
    finally:
        for server in reversed(started):
            await asyncio.to_thread(server.stop)


async def prepare(settings: Settings) -> tuple[int, int]:
    """Apply ``streams.yaml`` and ``migrations/``; returns (stream changes, migrations applied)."""
    assert settings.nats_url and settings.database_url
    nc = await bus.connect(settings.nats_url, name="od-demo-streams")
    try:
        spec = streams.with_replicas(streams.load(), settings.stream_replicas)
        changes = await streams.apply(nc, spec, Subjects(settings.namespace))
    finally:
        await nc.close()
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await migrate.migrate(conn)
    finally:
        await conn.close()
    return len(changes), len(applied)
