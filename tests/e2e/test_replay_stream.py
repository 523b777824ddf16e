"""examples/replay_stream.py (docs/replay.md): read a stream again from a sequence or a time."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import msgspec
from nats.aio.client import Client as NatsClient

from od import bus
from od.events import Subjects
from od.events.examples import VEHICLE_CHANGED
from od.streams import StreamsFile
from tests.backends import Backends

ROOT = Path(__file__).resolve().parents[2]


async def replay(backends: Backends, subjects: Subjects, *args: str) -> list[dict[str, object]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "replay_stream.py"), "--nats", backends.nats_url,
        "--stream", subjects.stream("OD_CHANGES"), "--subject", subjects.subject("od.vehicle.changed.>"),
        "--idle", "1", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_from_a_sequence_and_from_a_time(
    backends: Backends, nc: NatsClient, subjects: Subjects, js_streams: StreamsFile
) -> None:
    publisher = bus.Publisher(nc, subjects)
    events = [msgspec.structs.replace(VEHICLE_CHANGED, event_id=f"c{i}") for i in range(20)]
    for event in events[:10]:
        await publisher.publish(event)
    await asyncio.sleep(0.01)  # distinct stored timestamps on either side
    for event in events[10:]:
        await publisher.publish(event)
    stream = subjects.stream("OD_CHANGES")
    eleventh = await nc.jetstream().get_msg(stream, 11)
    assert eleventh.time is not None

    from_seq = await replay(backends, subjects, "--from-seq", "15")
    assert [r["seq"] for r in from_seq] == list(range(15, 21))
    assert [r["event"]["event_id"] for r in from_seq] == [f"c{i}" for i in range(14, 20)]  # type: ignore[index]

    since = await replay(backends, subjects, "--since", eleventh.time.isoformat())
    assert [r["seq"] for r in since] == list(range(11, 21))

    assert len(await replay(backends, subjects)) == 20
    assert await replay(backends, subjects, "--from-seq", "999") == []
