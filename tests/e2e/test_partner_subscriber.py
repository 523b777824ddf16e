"""examples/partner_subscriber.py as a partner runs it: a real process on real NATS, killed
mid-stream and restarted; every change is processed exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
from nats.aio.client import Client as NatsClient

from od import bus
from od.events import Subjects, VehicleChanged, encode_event, vehicle_id
from od.events.examples import VEHICLE_CHANGED
from od.streams import StreamsFile
from tests.backends import Backends

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "partner_subscriber.py"


def change(i: int) -> VehicleChanged:
    """Change ``i``: ten vehicles, each changed again and again, prices rising."""
    vid = vehicle_id("lakeside-honda", f"stock:S{i % 10}")
    record = msgspec.structs.replace(VEHICLE_CHANGED.vehicle, vehicle_id=vid, vin=None, price=f"{20000 + i}.00")
    at = VEHICLE_CHANGED.occurred_at + timedelta(seconds=i)
    return VehicleChanged(
        event_id=f"change-{i}",
        occurred_at=at,
        dealer_id="lakeside-honda",
        vehicle_id=vid,
        change="updated",
        vehicle=record,
    )


async def start(nats_url: str, namespace: str, db: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--nats", nats_url, "--namespace", namespace, "--name", "acme", "--db", str(db),
        "--ack-wait", "1", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def processed(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM processed").fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


async def wait_for(predicate: Callable[[], bool], within: float = 20) -> None:
    """Poll a condition another process makes true (its SQLite file)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_survives_a_kill_without_missing_or_repeating(
    backends: Backends, nc: NatsClient, subjects: Subjects, js_streams: StreamsFile, tmp_path: Path
) -> None:
    nats_url = backends.nats_url
    publisher = bus.Publisher(nc, subjects)
    db = tmp_path / "acme.sqlite3"
    await publisher.publish_all(change(i) for i in range(300))

    first = await start(nats_url, subjects.namespace, db)
    await wait_for(lambda: processed(db) >= 1)
    first.send_signal(signal.SIGKILL)  # mid-stream: no goodbye, acks in flight are lost
    out1, _ = await first.communicate()

    await publisher.publish_all(change(i) for i in range(300, 400))
    # A producer re-publishing old events under new message ids (past JetStream's duplicate
    # window): the subscriber must recognise them by event_id.
    for i in range(0, 400, 40):
        await publisher.publish_raw(subjects.vehicle_changed("lakeside-honda"), encode_event(change(i)), f"again-{i}")

    second = await start(nats_url, subjects.namespace, db)
    await wait_for(lambda: processed(db) >= 400)
    second.send_signal(signal.SIGTERM)
    out2, err2 = await asyncio.wait_for(second.communicate(), 15)
    assert second.returncode == 0, err2.decode()

    # A line is printed after its batch committed: a kill between the two loses lines, not
    # changes. What was processed is the partner's table; no change may be printed twice.
    lines = (out1 + out2).decode().splitlines()
    ids = [line.split()[0] for line in lines]
    assert len(ids) == len(set(ids)), "a change processed twice"
    with sqlite3.connect(db) as conn:
        done = {row[0] for row in conn.execute("SELECT event_id FROM processed")}
    assert done == {change(i).event_id for i in range(400)}, "a change missed"
    with sqlite3.connect(db) as conn:
        prices = dict(conn.execute("SELECT vehicle_id, json_extract(record, '$.vehicle.price') FROM vehicles"))
    assert prices == {change(i).vehicle_id: f"{20000 + i}.00" for i in range(390, 400)}, "latest change wins"
