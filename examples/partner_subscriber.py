"""A partner's subscriber to Open Dealer's vehicle changes (docs/events.md).

    python examples/partner_subscriber.py --nats nats://localhost:4222 --name acme --db acme.sqlite3

Its own durable consumer on `od.vehicle.changed.>` (stream OD_CHANGES) remembers where it
was across restarts. "Processing" here keeps a copy of each vehicle in SQLite; the copy and
the event's `event_id` commit in one transaction, and the ack comes after the commit. A
crash before the commit: the event is redelivered and processed. A crash after it: the
event is redelivered, its `event_id` is known, and it is skipped. Nothing missed, nothing twice.
"""

import argparse
import asyncio
import signal
import sqlite3

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from od.events import EventDecodeError, Subjects, VehicleChanged, decode_event

SCHEMA = """CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS vehicles (vehicle_id TEXT PRIMARY KEY, at REAL, change TEXT, record TEXT);"""
UPSERT = """INSERT INTO vehicles VALUES (?, ?, ?, ?) ON CONFLICT (vehicle_id) DO UPDATE SET
at = excluded.at, change = excluded.change, record = excluded.record WHERE excluded.at >= vehicles.at"""


def process(db: sqlite3.Connection, event: VehicleChanged, raw: bytes) -> bool:
    """Apply one change once: False when this `event_id` was processed before."""
    with db:  # one transaction: the event id and its effect
        if not db.execute("INSERT OR IGNORE INTO processed VALUES (?)", (event.event_id,)).rowcount:
            return False
        db.execute(UPSERT, (event.vehicle_id, event.occurred_at.timestamp(), event.change, raw.decode()))
    return True


async def main(args: argparse.Namespace) -> None:
    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)
    subjects = Subjects(args.namespace)  # OD_NAMESPACE of the installation, usually empty
    nc = await nats.connect(args.nats, max_reconnect_attempts=-1)
    js, stream = nc.jetstream(), subjects.stream("OD_CHANGES")
    config = ConsumerConfig(
        durable_name=args.name,
        filter_subject=subjects.subject("od.vehicle.changed.>"),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=args.ack_wait,  # after a crash, unacknowledged events come back after this
    )
    await js.add_consumer(stream, config)  # idempotent: the same config again changes nothing
    sub = await js.pull_subscribe_bind(durable=args.name, stream=stream)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(100, timeout=1)
        except TimeoutError:  # nothing new (nats-py raises either of its two timeout errors)
            continue
        for msg in msgs:
            try:
                event = decode_event(msg.data)
            except EventDecodeError as exc:  # e.g. a version newer than this od.events
                print(f"skipped {msg.metadata.sequence.stream}: {exc}", flush=True)
                await msg.term()
                continue
            if isinstance(event, VehicleChanged) and process(db, event, msg.data):
                print(f"{event.event_id} {event.change} {event.vehicle_id} {event.vehicle.price}", flush=True)
            await msg.ack()  # after the commit
    await sub.unsubscribe()
    await nc.flush()  # the last acks
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://localhost:4222")
    parser.add_argument("--name", default="partner", help="durable consumer name: one per partner")
    parser.add_argument("--db", default="partner.sqlite3")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="seconds before an unacked event is resent")
    asyncio.run(main(parser.parse_args()))
