"""A partner's subscriber to Open Dealer's vehicle changes (docs/events.md).

    python examples/partner_subscriber.py --nats nats://localhost:4222 --name acme --db acme.sqlite3

Its own durable consumer on `od.vehicle.changed.>` (stream OD_CHANGES) remembers its place
across restarts. Each batch's effects (a copy of each vehicle in SQLite) and `event_id`s commit
in one transaction, and the acks come after the commit: a crash before it redelivers the
batch; a crash after it redelivers events whose ids are known, which are skipped.
"""

import argparse
import asyncio
import signal
import sqlite3

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from od.events import EventDecodeError, Subjects, VehicleChanged, decode_event, encode_event

SCHEMA = """CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS vehicles (vehicle_id TEXT PRIMARY KEY, at REAL, change TEXT, record TEXT);"""
UPSERT = """INSERT INTO vehicles VALUES (?, ?, ?, ?) ON CONFLICT (vehicle_id) DO UPDATE SET
at = excluded.at, change = excluded.change, record = excluded.record WHERE excluded.at >= vehicles.at"""


def process(db: sqlite3.Connection, changes: list[VehicleChanged]) -> list[VehicleChanged]:
    """Apply each change once (the latest per vehicle wins); returns those not seen before."""
    with db:
        fresh = [c for c in changes if db.execute("INSERT OR IGNORE INTO processed VALUES (?)", (c.event_id,)).rowcount]
        rows = [(c.vehicle_id, c.occurred_at.timestamp(), c.change, encode_event(c).decode()) for c in fresh]
        db.executemany(UPSERT, rows)
    return fresh


async def main(args: argparse.Namespace) -> None:
    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)
    subjects = Subjects(args.namespace)  # the installation's OD_NAMESPACE, usually empty
    nc = await nats.connect(args.nats.split(","), max_reconnect_attempts=-1)
    js, stream = nc.jetstream(), subjects.stream("OD_CHANGES")
    await js.add_consumer(  # idempotent: the same config again changes nothing
        stream,
        ConsumerConfig(
            durable_name=args.name,
            filter_subject=subjects.subject("od.vehicle.changed.>"),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=args.ack_wait,  # after a crash, unacknowledged events come back after this
        ),
    )
    sub = await js.pull_subscribe_bind(durable=args.name, stream=stream)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(100, timeout=1)
        except TimeoutError:  # nothing new (nats-py raises either of its two timeout errors)
            continue
        changes, done = [], []
        for msg in msgs:
            try:
                event = decode_event(msg.data)
            except EventDecodeError as exc:  # e.g. a version newer than this od.events
                print(f"skipped {msg.metadata.sequence.stream}: {exc}", flush=True)
                await msg.term()
                continue
            changes += [event] if isinstance(event, VehicleChanged) else []
            done.append(msg)
        for change in process(db, changes):
            print(f"{change.event_id} {change.change} {change.vehicle_id} {change.vehicle.price}", flush=True)
        for msg in done:
            await msg.ack()  # after the commit
    await sub.unsubscribe()
    await nc.flush()  # the last acks
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://localhost:4222", help="server URL(s), comma-separated")
    parser.add_argument("--name", default="partner", help="durable consumer name: one per partner")
    parser.add_argument("--db", default="partner.sqlite3")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="seconds before an unacked event is resent")
    asyncio.run(main(parser.parse_args()))
