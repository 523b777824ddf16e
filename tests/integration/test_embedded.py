"""The embedded backend must start from nothing on a machine with neither server."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import asyncpg
import nats
import pytest

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


def _jetstream_config(server: EmbeddedNats) -> dict[str, object]:
    with urllib.request.urlopen(server.monitor_url + "/varz", timeout=5) as answer:
        config: dict[str, object] = json.load(answer)["jetstream"]["config"]
    return config


@pytest.mark.parametrize(("sync", "always"), [("always", True), ("default", False)])
def test_embedded_nats_applies_the_sync_setting(tmp_path: Path, sync: str, always: bool) -> None:
    """``OD_NATS_SYNC=always`` reaches the server: its /varz reports ``sync_always``."""
    server = EmbeddedNats(tmp_path / "nats", sync=sync, monitor_port=0).start()
    try:
        assert bool(_jetstream_config(server).get("sync_always")) is always
    finally:
        server.stop()


def test_embedded_nats_takes_a_sync_interval(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats", sync="1s", monitor_port=0).start()
    try:
        config = _jetstream_config(server)
        assert config["sync_interval"] == 1_000_000_000  # nanoseconds
        assert not config.get("sync_always")
    finally:
        server.stop()
