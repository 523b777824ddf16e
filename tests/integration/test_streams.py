from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from od import streams
from od.events import Subjects
from tests.conftest import delete_streams


async def test_apply_twice_changes_nothing_the_second_time(nc: NatsClient, subjects: Subjects) -> None:
    spec = streams.load()
    try:
        first = await streams.apply(nc, spec, subjects)
        assert f"+ stream {subjects.stream('OD_INVENTORY')}" in first
        assert any("vehicle-projector" in line for line in first)
        assert await streams.apply(nc, spec, subjects) == []
    finally:
        await delete_streams(nc, subjects)


async def test_apply_shows_what_changed(nc: NatsClient, subjects: Subjects) -> None:
    spec = streams.load()
    try:
        await streams.apply(nc, spec, subjects)
        spec.streams[0].max_msg_size = 131072
        spec.streams[0].consumers[0].max_ack_pending = 500
        changes = await streams.apply(nc, spec, subjects)
        name = subjects.stream(spec.streams[0].name)
        assert f"~ stream {name}.max_msg_size: 262144 -> 131072" in changes
        assert any(line.startswith(f"~ consumer {name}/") and "max_ack_pending" in line for line in changes)
        assert await streams.apply(nc, spec, subjects) == []
    finally:
        await delete_streams(nc, subjects)


async def test_a_backoff_taken_out_of_the_file_goes(nc: NatsClient, subjects: Subjects) -> None:
    spec = streams.load()
    try:
        consumer = spec.streams[0].consumers[0]
        consumer.backoff = ["30s", "1m"]
        await streams.apply(nc, spec, subjects)
        consumer.backoff = None
        changes = await streams.apply(nc, spec, subjects)
        assert any(f"/{consumer.durable_name}.backoff" in line for line in changes)
        info = await nc.jetstream().consumer_info(subjects.stream(spec.streams[0].name), consumer.durable_name)
        assert not info.config.backoff
        assert await streams.apply(nc, spec, subjects) == []
    finally:
        await delete_streams(nc, subjects)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("streams: [", "streams.yaml"),
        ("streams:\n  - name: X\n    subjects: [a]\n    storage: disk\n    retention: limits\n", "storage"),
        (
            "streams:\n  - name: X\n    subjects: [a]\n    storage: file\n    retention: limits\n    max_agee: 1s\n",
            "max_agee",
        ),
        (
            "streams:\n  - name: X\n    subjects: [a]\n    storage: file\n    retention: limits\n    max_age: 2 wk\n",
            "bad duration",
        ),
    ],
)
def test_malformed_file_fails_with_one_line(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(text)
    with pytest.raises(streams.StreamsFileError, match=reason) as err:
        streams.load(path)
    assert "\n" not in str(err.value)


def test_export_writes_files_the_nats_cli_accepts(tmp_path: Path) -> None:
    written = streams.export(streams.load(), Subjects(), tmp_path)
    config = json.loads((tmp_path / "OD_INVENTORY.json").read_text())
    assert config["subjects"] == ["od.vehicle.observed.>", "od.feed.completed.>"]
    assert config["duplicate_window"] == 600 * 10**9
    assert config["max_age"] == 35 * 86400 * 10**9
    consumer = json.loads((tmp_path / "OD_INVENTORY.vehicle-projector.json").read_text())
    assert consumer["ack_policy"] == "explicit"
    assert consumer["ack_wait"] == 60 * 10**9 and "backoff" not in consumer  # it would override nak delays
    assert len(written) >= 5
