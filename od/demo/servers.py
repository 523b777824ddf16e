"""The demo's NATS and PostgreSQL: the ones ``OD_NATS_URL`` / ``OD_DATABASE_URL`` name, else
embedded servers with their data under ``settings.data_dir`` (``.od/``), so a second run finds
the streams and tables of the first. Either way, streams and migrations are applied."""

from __future__ import annotations

import contextlib

import asyncpg

from od import bus, migrate, streams
from od.config import Settings
from od.demo.sources import port_or_free
from od.embedded import Servers, servers_for
from od.events import Subjects

NATS_PORT = 14222
POSTGRES_PORT = 15432


def servers(settings: Settings) -> contextlib.AbstractAsyncContextManager[Servers]:
    """The servers to use, embedded ones (on the demo's usual ports when free) started if need be."""
    ports = {"nats_port": port_or_free(NATS_PORT), "postgres_port": port_or_free(POSTGRES_PORT)}
    return servers_for(settings, settings.data_dir, **ports)


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
