"""``od replay vehicles``: rebuild the vehicle projection from the ``OD_INVENTORY`` stream into
fresh tables while the live ones keep serving, then swap them in, atomically.

1. ``vehicles__rebuild``, ``vehicle_observations__rebuild`` and ``feed_completions__rebuild`` are
   created ``LIKE`` the live tables (indexes, defaults, compression included) and filled by the
   same store code from an ephemeral pull consumer (no acks), in stream order, with a progress
   bar. Events the live projector dead-lettered are skipped; no ``VehicleChanged`` is published
   (partners already have them).
2. The swap transaction locks the live tables (the live projector and the API wait for the
   few seconds it takes), applies what reached the stream meanwhile, carries over the columns
   other workers own (``short_url``…), drops the old tables (without ``CASCADE``: a view or
   foreign key on them stops the swap with its name, and nothing changes), renames the new ones
   and their indexes to the live names, and commits. The live projector goes on with the new
   tables; what it applies again is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from tqdm import tqdm

from od.events import EventDecodeError, FeedCompleted, Subjects, VehicleObserved, decode_event
from od.handlers import deadletters
from od.log import get_logger
from od.projections.db import Conn
from od.projections.vehicles import LIVE, VEHICLE_COLUMNS, Tables, VehicleStore

log = get_logger(__name__)

STREAM = "OD_INVENTORY"
LIVE_CONSUMER = "vehicle-projector"
REBUILD = LIVE.with_suffix("__rebuild")
SWAP_ATTEMPTS = 5


@dataclass
class ReplayResult:
    events: int
    skipped: int
    last_seq: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class _Feed:
    """An ephemeral, unacknowledged pull consumer over the whole stream, fetched one batch ahead."""

    def __init__(self, sub: JetStreamContext.PullSubscription, batch: int) -> None:
        self._sub = sub
        self._batch = batch
        self._next: asyncio.Task[list[Any]] | None = None

    def _fetch(self) -> asyncio.Task[list[Any]]:
        return asyncio.create_task(self._sub.fetch(self._batch, timeout=5))

    async def batch(self) -> list[Any]:
        task = self._next or self._fetch()
        msgs = await task
        self._next = self._fetch()
        return msgs

    async def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._next
        await self._sub.unsubscribe()


class Replay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        nc: NatsClient,
        subjects: Subjects,
        *,
        batch: int = 2000,
        progress: bool = True,
        tables: Tables = REBUILD,
    ) -> None:
        self.pool = pool
        self.nc = nc
        self.subjects = subjects
        self.batch = batch
        self.progress = progress
        self.tables = tables
        self.store = VehicleStore(tables, publish=False, lock=False)
        self.stream = subjects.stream(STREAM)
        self.events = 0
        self.skipped = 0
        self.last_seq = 0
        self._dead: set[int] = set()

    async def run(self) -> ReplayResult:
        started = time.perf_counter()
        await self._create_tables()
        self._dead = await deadletters.skipped_sequences(self.pool, LIVE_CONSUMER, self.stream)
        js = self.nc.jetstream()
        info = await js.stream_info(self.stream)
        consumer = await js.add_consumer(
            self.stream,
            ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=120.0,
                description="od replay vehicles",
            ),
        )
        assert consumer.name is not None
        feed = _Feed(await js.pull_subscribe_bind(durable=consumer.name, stream=self.stream), self.batch)
        try:
            with tqdm(
                total=info.state.messages,
                unit="ev",
                unit_scale=True,
                desc="replay vehicles",
                disable=not self.progress,
                smoothing=0.1,
            ) as bar:
                await self._until(feed, info.state.last_seq, None, bar)
                await self._swap(feed, bar)
        finally:
            await feed.close()
        return ReplayResult(self.events, self.skipped, self.last_seq, time.perf_counter() - started)

    async def _until(self, feed: _Feed, target: int, conn: Conn | None, bar: Any) -> None:
        """Apply the stream up to sequence ``target`` (each batch in its own transaction, or
        in ``conn``'s when given)."""
        while self.last_seq < target:
            msgs = await feed.batch()
            events: list[VehicleObserved | FeedCompleted] = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                event = None if seq in self._dead else _decode(msg.data)
                if event is None:
                    self.skipped += 1
                else:
                    events.append(event)
                self.last_seq = max(self.last_seq, seq)
            if conn is not None:
                await self.store.apply(conn, events)
            else:
                async with self.pool.acquire() as c, c.transaction():
                    await self.store.apply(c, events)
            self.events += len(msgs)
            bar.update(len(msgs))

    async def _create_tables(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for live, new in zip(LIVE.all(), self.tables.all(), strict=True):
                await conn.execute(f"DROP TABLE IF EXISTS {new}")
                await conn.execute(f"CREATE TABLE {new} (LIKE {live} INCLUDING ALL)")

    async def _swap(self, feed: _Feed, bar: Any) -> None:
        js = self.nc.jetstream()
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            # Catch up outside the lock first, so the locked part is short.
            await self._until(feed, (await js.stream_info(self.stream)).state.last_seq, None, bar)
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SET LOCAL lock_timeout = '10s'")
                    await conn.execute(f"LOCK TABLE {', '.join(LIVE.all())} IN ACCESS EXCLUSIVE MODE")
                    # Every event the live projector applied is in the stream by now.
                    await self._until(feed, (await js.stream_info(self.stream)).state.last_seq, conn, bar)
                    await self._carry_over(conn)
                    await _rename(conn, self.tables)
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as exc:
                log.warning("replay.swap_retry", attempt=attempt, error=str(exc))
        raise RuntimeError(f"could not lock the live tables in {SWAP_ATTEMPTS} attempts")

    async def _carry_over(self, conn: Conn) -> None:
        """Copy the columns of ``vehicles`` that other workers own (e.g. ``short_url``)."""
        rows = await conn.fetch(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position""",
            LIVE.vehicles,
        )
        foreign = [r["column_name"] for r in rows if r["column_name"] not in VEHICLE_COLUMNS]
        if foreign:
            assignments = ", ".join(f'"{c}" = v."{c}"' for c in foreign)
            await conn.execute(
                f"UPDATE {self.tables.vehicles} AS r SET {assignments} "  # noqa: S608 - catalog names
                f"FROM {LIVE.vehicles} AS v WHERE r.vehicle_id = v.vehicle_id"
            )


def _decode(data: bytes) -> VehicleObserved | FeedCompleted | None:
    try:
        event = decode_event(data)
    except EventDecodeError:
        return None
    return event if isinstance(event, VehicleObserved | FeedCompleted) else None


_INDEX_NAME = re.compile(r"INDEX (\S+) ON (\S+)")


async def _rename(conn: Conn, new: Tables) -> None:
    """Drop the live tables and give the new ones (and their indexes) the live names."""
    for live, fresh in zip(LIVE.all(), new.all(), strict=True):
        old_indexes = await _indexes(conn, live)
        await conn.execute(f"DROP TABLE {live}")
        await conn.execute(f"ALTER TABLE {fresh} RENAME TO {live}")
        for definition, name in (await _indexes(conn, live)).items():
            wanted = old_indexes.get(definition)
            if wanted and wanted != name:
                await conn.execute(f'ALTER INDEX "{name}" RENAME TO "{wanted}"')


async def _indexes(conn: Conn, table: str) -> dict[str, str]:
    """Index definition (name and table left out) → index name."""
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", table
    )
    return {_INDEX_NAME.sub("INDEX ON", r["indexdef"]): r["indexname"] for r in rows}


async def replay_vehicles(
    pool: asyncpg.Pool, nc: NatsClient, subjects: Subjects, *, batch: int = 2000, progress: bool = True
) -> ReplayResult:
    return await Replay(pool, nc, subjects, batch=batch, progress=progress).run()
