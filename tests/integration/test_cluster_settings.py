"""What the compose cluster needs from the settings: OD_STREAM_REPLICAS (one streams.yaml for a
single server and for R3) and OD_NATS_URL listing several nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from od import bus, cli, streams
from od.config import Settings
from od.embedded import free_port
from od.events import Subjects
from tests.backends import Backends
from tests.conftest import delete_streams


def test_override_sets_every_stream_and_leaves_the_file_alone() -> None:
    spec = streams.load()
    r3 = streams.with_replicas(spec, 3)
    assert {s.num_replicas for s in r3.streams} == {3}
    assert {s.num_replicas for s in spec.streams} == {1}
    assert streams.with_replicas(spec, None) is spec
    assert all(streams.stream_config(s, Subjects())["num_replicas"] == 3 for s in r3.streams)
    with pytest.raises(streams.StreamsFileError, match="1 to 5"):
        streams.with_replicas(spec, 0)


def test_environment_reaches_od_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_STREAM_REPLICAS", "3")
    assert Settings.from_env().stream_replicas == 3
    assert cli.main(["streams", "export", "--dir", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "OD_CHANGES.json").read_text())
    assert config["num_replicas"] == 3


async def test_apply_with_override_is_idempotent(nc: NatsClient, subjects: Subjects) -> None:
    spec = streams.with_replicas(streams.load(), 1)
    try:
        assert await streams.apply(nc, spec, subjects)
        assert await streams.apply(nc, spec, subjects) == []
    finally:
        await delete_streams(nc, subjects)


async def test_r3_on_a_single_server_fails_with_the_servers_reason(nc: NatsClient, subjects: Subjects) -> None:
    spec = streams.with_replicas(streams.load(), 3)
    try:
        with pytest.raises(streams.JetStreamApiError, match="(?i)replicas"):
            await streams.apply(nc, spec, subjects)
    finally:
        await delete_streams(nc, subjects)


async def test_a_seed_list_connects_while_a_node_is_down(backends: Backends) -> None:
    down = f"nats://127.0.0.1:{free_port()}"
    for url in (f"{down},{backends.nats_url}", f"{backends.nats_url}, {down}"):
        nc = await bus.connect(url, name="od-test-seeds")
        try:
            assert nc.is_connected
            await nc.flush(timeout=5)
        finally:
            await nc.close()
