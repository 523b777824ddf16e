"""The embedded backend must start from nothing on a machine with neither server."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import nats

from od.embedded import EmbeddedNats, EmbeddedPostgres


async def test_embedded_servers_start_from_nothing(tmp_path: Path) -> None:
    nats_server = EmbeddedNats(tmp_path / "nats").start()
    postgres = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        nc = await nats.connect(nats_server.url)
        info = await nc.jetstream().account_info()
        assert info.limits is not None
        await nc.close()
        conn = await asyncpg.connect(postgres.url)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        nats_server.stop()
        postgres.stop()
    # A second start reuses the data directory.
    postgres = EmbeddedPostgres(tmp_path / "pg").start()
    postgres.stop()
