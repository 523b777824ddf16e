"""Crash safety of the vehicle projector: ``kill -9`` an ``od worker --only vehicle-projector``
process at random points while it projects, restart it each time, and compare what it leaves
with a clean fold of the same events in stream order into another database.

What must hold (``od bench crash`` at full size, tests/faults/test_worker_crash.py smaller):
every row of ``vehicles``, ``vehicle_observations`` and ``feed_completions`` equal, the
checkpoint at the stream's last sequence, nothing dead-lettered, the outbox empty, and
``OD_CHANGES`` holding each change of the clean fold exactly once — a relay killed between
publish and delete re-publishes the row under the same ``event_id``, which the stream's
duplicate window drops (od.handlers.outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from od import bus, streams
from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.config import Settings
from od.events import FeedCompleted, Subjects, VehicleObserved, decode_event
from od.handlers import vehicle_projector
from od.projections.vehicles import VehicleStore

SOURCES = ("homenet", "scrape")
ROUNDS = 3
DEALERS = 8
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ACK_WAIT = 1.0
TABLES = ("vehicles", "vehicle_observations", "feed_completions")
"""Every table the projector keeps. None of their columns is a processing time (``updated_at``
and ``sold_at`` are event times), so all are compared. The projector's other writes carry
processing times (``consumer_checkpoints.updated_at``, ``created_at`` of the outbox and of
dead letters), so they are checked by content instead: checkpoint = last sequence, both empty."""


def history(n: int) -> Iterator[VehicleObserved | FeedCompleted]:
    """About ``n`` events, the same on every call: rounds of complete pulls by two sources of
    each dealer (same VINs, different prices, so the merge matters), each followed by its
    ``FeedCompleted``; a round misses one vehicle in seven (sold) that the next brings back."""
    per_pull = max(1, round((n / (ROUNDS * len(SOURCES)) - DEALERS) * 7 / 6 / DEALERS))
    for r in range(ROUNDS):
        day = T0 + timedelta(days=r)
        for s, source in enumerate(SOURCES):
            for d in range(DEALERS):
                dealer = f"crash-dealer-{d}"
                keys: list[str] = []
                for i in range(d * per_pull, (d + 1) * per_pull):
                    if (i + r) % 7 == 0:
                        continue
                    event = observation(i, dealer_id=dealer, source=source, at=day + timedelta(seconds=i))
                    price = int(float(event.price or 0)) + 100 * r + 10 * s
                    yield msgspec.structs.replace(
                        event, event_id=f"{event.event_id}-r{r}", run_id=f"crash-{r}", price=f"{price}.00"
                    )
                    keys.append(event.key)
                yield FeedCompleted(
                    event_id=f"crash-fc-{dealer}-{source}-{r}",
                    occurred_at=day + timedelta(hours=23),
                    dealer_id=dealer,
                    source=source,
                    run_id=f"crash-{r}",
                    keys=keys,
                )


def chunks(n: int, size: int = 1000) -> Iterator[list[VehicleObserved | FeedCompleted]]:
    chunk: list[VehicleObserved | FeedCompleted] = []
    for event in history(n):
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def streams_spec() -> streams.StreamsFile:
    """The project's OD_INVENTORY and OD_CHANGES, the vehicle projector's ack wait shortened to
    ``ACK_WAIT``: a killed worker's deliveries are due again within a second."""
    spec = streams.load()
    kept = []
    for stream in spec.streams:
        if stream.name == "OD_INVENTORY":
            (consumer,) = [c for c in stream.consumers if c.durable_name == vehicle_projector.CONSUMER]
            consumer = msgspec.structs.replace(consumer, ack_wait=f"{ACK_WAIT:g}s")
            kept.append(msgspec.structs.replace(stream, consumers=[consumer]))
        elif stream.name == "OD_CHANGES":
            kept.append(msgspec.structs.replace(stream, consumers=[]))
    return streams.StreamsFile(streams=kept)


@dataclass
class CrashResult:
    events: int
    kills: int
    mismatched_rows: int  # rows in one database and not the other, over TABLES
    expected_changes: int  # VehicleChanged of the clean fold
    changes: int  # distinct event ids on OD_CHANGES
    duplicate_changes: int  # messages on OD_CHANGES beyond one per event id
    missing_changes: int  # changes of the clean fold not on OD_CHANGES, or the reverse
    checkpoint: int
    last_seq: int
    dead_letters: int
    outbox: int  # rows the relay left unpublished


async def crash_and_compare(
    settings: Settings, clean_database_url: str, *, n: int, kills: int, seed: int = 0
) -> CrashResult:
    """Publish ``history(n)`` under ``settings`` (streams from ``streams_spec`` applied, database
    migrated), project it with a worker killed ``kills`` times, fold the same events cleanly
    into ``clean_database_url`` (migrated, empty), and compare."""
    assert settings.nats_url and settings.database_url
    subjects = Subjects(settings.namespace)
    nc = await bus.connect(settings.nats_url, name="od-crash")
    try:
        publisher = bus.Publisher(nc, subjects)
        events = 0
        for chunk in chunks(n, 20_000):
            events += await publisher.publish_all(chunk)
        killed = await _project_with_kills(nc, settings, events, kills, random.Random(seed))
        last_seq = (await nc.jetstream().stream_info(subjects.stream(vehicle_projector.STREAM))).state.last_seq
        published = await _changes(nc, subjects)
    finally:
        await nc.close()
    expected = await clean_fold(clean_database_url, n)
    distinct = Counter(published)
    mismatched = await mismatched_rows(settings.database_url, clean_database_url)
    crashed = await asyncpg.connect(settings.database_url)
    try:
        checkpoint = await crashed.fetchval(
            "SELECT stream_seq FROM consumer_checkpoints WHERE consumer = $1", vehicle_projector.CONSUMER
        )
        dead = await crashed.fetchval("SELECT count(*) FROM dead_letters")
        outbox = await crashed.fetchval("SELECT count(*) FROM vehicle_changes_outbox")
    finally:
        await crashed.close()
    return CrashResult(
        events=events,
        kills=killed,
        mismatched_rows=mismatched,
        expected_changes=len(expected),
        changes=len(distinct),
        duplicate_changes=len(published) - len(distinct),
        missing_changes=len(set(expected) ^ set(distinct)),
        checkpoint=int(checkpoint or 0),
        last_seq=last_seq,
        dead_letters=dead,
        outbox=outbox,
    )


async def _project_with_kills(nc: NatsClient, settings: Settings, n: int, kills: int, rng: random.Random) -> int:
    """Run one worker process; ``kill -9`` it ``kills`` times at random points of the backlog
    (after it made some progress of its own, plus up to 0.2 s, so kills land mid-batch too),
    restarting it each time; return once the backlog and the outbox are empty."""
    stream = Subjects(settings.namespace).stream(vehicle_projector.STREAM)
    js = nc.jetstream()

    async def done() -> int:
        info = await js.consumer_info(stream, vehicle_projector.CONSUMER)
        return n - (info.num_pending or 0) - (info.num_ack_pending or 0)

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "od.cli", "worker", "--only", "vehicle-projector", env=settings.child_env()
        )

    # One kill in each of ``kills`` equal slices of 5-80 % of the backlog, somewhere in it.
    targets = [n * (0.05 + 0.75 * (k + rng.random()) / kills) for k in range(kills)]
    worker = await start()
    killed = 0
    try:
        for target in targets:
            floor = await done()
            while ((progress := await done()) < target or progress <= floor) and progress < n:
                assert worker.returncode is None, f"the worker exited with {worker.returncode}"
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0, 0.2))
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            killed += 1
            # A server timer, which nothing signals: once the killed worker's deliveries are due
            # again, the restarted one is handed them before any newer message, so it reads the
            # stream in order as the clean fold does (with them interleaved, only updated_at,
            # sold_at and the VehicleChanged between could differ; od.projections.vehicles).
            await asyncio.sleep(ACK_WAIT + 0.5)
            worker = await start()
        conn = await asyncpg.connect(settings.database_url or "")
        try:
            while await done() < n or await conn.fetchval("SELECT count(*) FROM vehicle_changes_outbox"):
                assert worker.returncode is None, f"the worker exited with {worker.returncode}"
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wait(), 20)
    return killed


async def clean_fold(database_url: str, n: int) -> list[str]:
    """The same events, in stream order, batch by batch into a fresh database; the event ids of
    the VehicleChanged it makes."""
    conn = await asyncpg.connect(database_url)
    store = VehicleStore()  # its outbox rows stay in that database; the ids are what we need
    ids: list[str] = []
    try:
        for chunk in chunks(n, vehicle_projector.BATCH):
            async with conn.transaction():
                ids += [c.event_id for c in await store.apply(conn, chunk)]
    finally:
        await conn.close()
    return ids


async def mismatched_rows(one_url: str, other_url: str, *, drop: tuple[str, ...] = ()) -> int:
    """Rows of ``TABLES`` in one database and not in the other (columns in ``drop`` left out)."""
    one, other = await asyncpg.connect(one_url), await asyncpg.connect(other_url)
    try:
        mismatched = 0
        for table in TABLES:
            mine, theirs = await _digests(one, table, drop), await _digests(other, table, drop)
            mismatched += (mine - theirs).total() + (theirs - mine).total()
        return mismatched
    finally:
        await one.close()
        await other.close()


async def _digests(conn: asyncpg.Connection, table: str, drop: tuple[str, ...]) -> Counter[str]:
    """One md5 per row over its columns: a multiset to compare two databases row by row."""
    columns = await conn.fetch(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position""",
        table,
    )
    kept = ", ".join(f'"{c["column_name"]}"' for c in columns if c["column_name"] not in drop)
    rows = await conn.fetch(f"SELECT md5(ROW({kept})::text) AS d FROM {table}")  # noqa: S608 (TABLES, the catalog)
    return Counter(r["d"] for r in rows)


async def _changes(nc: NatsClient, subjects: Subjects) -> list[str]:
    """The event id of every message on OD_CHANGES, through an ephemeral consumer."""
    js = nc.jetstream()
    stream = subjects.stream("OD_CHANGES")
    expected = (await js.stream_info(stream)).state.messages
    if not expected:
        return []
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
    sub = await js.pull_subscribe(subjects.subject("od.vehicle.changed.>"), stream=stream, config=config)
    ids: list[str] = []
    try:
        while len(ids) < expected:
            msgs = await sub.fetch(min(1000, expected - len(ids)), timeout=5)
            ids += [decode_event(m.data).event_id for m in msgs]
    finally:
        await sub.unsubscribe()
    return ids


async def run(ctx: BenchContext) -> list[Figure]:
    """``od bench crash``: 100,000 events (smoke: 5,000), five kills."""
    n, kills = ctx.size(100_000, 5_000), 5
    spec = streams_spec()
    settings = await ctx.settings(spec)
    clean = await ctx.settings(spec)
    assert clean.database_url
    result = await crash_and_compare(settings, clean.database_url, n=n, kills=kills)
    return [
        Figure("crash.events_projected", result.events, "events"),
        Figure("crash.kills", result.kills, "kill -9", target=">= 5"),
        Figure("crash.mismatched_rows", result.mismatched_rows, "rows", target="0"),
        Figure("crash.changes", result.changes, "VehicleChanged", result.expected_changes, target="= clean run"),
        Figure("crash.duplicate_changes", result.duplicate_changes, "messages", target="0"),
        Figure("crash.missing_changes", result.missing_changes, "event ids", target="0"),
    ]
