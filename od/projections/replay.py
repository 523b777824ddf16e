"""``od replay PROJECTION``: rebuild a projection (``vehicles``, ``dealers``) from its stream into
fresh tables while the live ones keep serving, then swap them in, atomically.

A :class:`Projection` says what differs: the stream, the live projector's consumer, the tables,
how a batch is applied to the fresh ones, and what other workers wrote that survives.

1. ``<table>__rebuild`` is created ``LIKE`` each live table (indexes, defaults, compression
   included) and filled by the same store code from an ephemeral pull consumer (no acks), in
   stream order, with a progress bar. Events the live projector dead-lettered are skipped; no
   ``VehicleChanged`` is published (partners already have them).
2. The swap transaction locks the live tables (the live projector and the API wait for the
   few seconds it takes), applies what reached the stream meanwhile, carries over what other
   workers own (``vehicles.short_url``, a dealer's geocoded location…), drops the old tables
   (without ``CASCADE``: a view or foreign key on them stops the swap with its name, and
   nothing changes), renames the new ones and their indexes to the live names, and commits. The
   live projector goes on with the new tables; what it applies again is idempotent.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from tqdm import tqdm

from od import bus
from od.events import DealerChanged, EventDecodeError, FeedCompleted, Subjects, VehicleObserved, decode_event
from od.handlers import deadletters
from od.log import get_logger
from od.projections import dealers
from od.projections.db import Conn
from od.projections.lanes import by_dealer
from od.projections.vehicles import LIVE, VEHICLE_COLUMNS, VehicleStore

log = get_logger(__name__)

SUFFIX = "__rebuild"
SWAP_ATTEMPTS = 5
FETCH_WAIT_S = 5.0
INDEX_BUILD_MEMORY = "128MB"
"""Sort memory of each deferred index build (PostgreSQL's default, 64MB, spills 1M rows to disk)."""
INDEX_BUILD_TIMEOUT_S = 3600.0
LANES = 3
"""Transactions each batch is split into and applied at once, until the swap (od.projections.lanes)."""


@dataclass(frozen=True)
class Projection:
    """What a replay needs to know of one projection (table names are constants, never input)."""

    name: str
    stream: str  # the stream's contract name
    consumer: str  # the live projector's durable consumer: what it dead-lettered is skipped
    tables: tuple[str, ...]  # the live tables, rebuilt and swapped together
    accepts: tuple[type, ...]
    apply: Callable[[Conn, Sequence[Any]], Awaitable[object]]
    """Apply a batch, in stream order, to the ``__rebuild`` tables inside the caller's transaction."""
    carry_over: Callable[[Conn], Awaitable[None]]
    """Copy what other workers wrote to the live tables into the rebuilt ones (under the lock)."""
    index_after_load: tuple[str, ...] = ()
    """Live tables whose indexes the apply never reads by: their copies are filled without them
    (constraints' indexes excepted) and indexed once, after the bulk of the stream."""


def _vehicles() -> Projection:
    store = VehicleStore(LIVE.with_suffix(SUFFIX), publish=False, lock=False)

    async def carry_over(conn: Conn) -> None:
        await _carry_foreign(conn, LIVE.vehicles, "vehicle_id", VEHICLE_COLUMNS)

    return Projection(
        "vehicles",
        "OD_INVENTORY",
        "vehicle-projector",
        LIVE.all(),
        (VehicleObserved, FeedCompleted),
        store.apply,
        carry_over,
        index_after_load=(LIVE.vehicles,),  # read by vehicle_id only (its primary key)
    )


def _dealers() -> Projection:
    rebuild = dealers.LIVE + SUFFIX

    async def apply(conn: Conn, events: Sequence[DealerChanged]) -> None:
        for event in events:
            await dealers.apply(conn, event, None, table=rebuild)

    return Projection(
        "dealers", "OD_DEALERS", "dealer-projector", (dealers.LIVE,), (DealerChanged,), apply, _carry_dealers
    )


PROJECTIONS: dict[str, Callable[[], Projection]] = {"vehicles": _vehicles, "dealers": _dealers}


@dataclass
class ReplayResult:
    events: int
    skipped: int
    last_seq: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Replay:
    def __init__(
        self,
        projection: Projection,
        pool: asyncpg.Pool,
        nc: NatsClient,
        subjects: Subjects,
        *,
        batch: int = 6000,
        progress: bool = True,
    ) -> None:
        self.projection = projection
        self.pool = pool
        self.nc = nc
        self.batch = batch
        self.progress = progress
        self.stream = subjects.stream(projection.stream)
        self.events = 0
        self.skipped = 0
        self.last_seq = 0
        self._dead: set[int] = set()
        self._consumer = ""  # the replay's own ephemeral consumer
        self._deferred_indexes: list[str] = []  # definitions, built after the bulk load

    async def run(self) -> ReplayResult:
        started = time.perf_counter()
        name = self.projection.name
        await self._create_tables()
        self._dead = await deadletters.skipped_sequences(self.pool, self.projection.consumer, self.stream)
        js = self.nc.jetstream()
        info = await js.stream_info(self.stream)
        consumer = await js.add_consumer(
            self.stream,
            ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=120.0,
                description=f"od replay {name}",
            ),
        )
        assert consumer.name is not None
        self._consumer = consumer.name
        # Unacknowledged and one pull ahead: the next batch arrives while this one is applied.
        feed = await bus.InboxFetcher(self.nc, self.stream, consumer.name).start()
        try:
            with tqdm(
                total=info.state.messages,
                unit="ev",
                unit_scale=True,
                desc=f"replay {name}",
                disable=not self.progress,
                smoothing=0.1,
            ) as bar:
                await self._until(feed, info.state.last_seq, None, bar)
                await self._build_deferred_indexes()
                await self._swap(feed, bar)
        finally:
            await feed.close()
        return ReplayResult(self.events, self.skipped, self.last_seq, time.perf_counter() - started)

    async def _until(self, feed: bus.InboxFetcher, target: int, conn: Conn | None, bar: Any) -> None:
        """Apply the stream up to sequence ``target`` (each batch in its own transaction, or
        in ``conn``'s when given)."""
        while self.last_seq < target:
            msgs = await feed.fetch(self.batch, FETCH_WAIT_S)
            if not msgs:
                info = await self.nc.jetstream().consumer_info(self.stream, self._consumer)
                if not info.num_pending:  # the rest up to ``target`` was deleted from the stream
                    self.last_seq = target
                continue
            events: list[Any] = []
            for msg in msgs:
                seq = bus.stream_seq(msg)
                event = None if seq in self._dead else self._decode(msg.data)
                if event is None:
                    self.skipped += 1
                else:
                    events.append(event)
                self.last_seq = max(self.last_seq, seq)
            if conn is not None:
                await self.projection.apply(conn, events)
            else:
                lanes = by_dealer(events, LANES, lambda e: e.dealer_id)
                # Every lane ends (commits or fails) before a failure is raised: none is left
                # running on a connection the caller is about to close.
                outcomes = await asyncio.gather(*(self._apply(lane) for lane in lanes if lane), return_exceptions=True)
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
            self.events += len(msgs)
            bar.update(len(msgs))

    async def _apply(self, events: list[Any]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # The rebuild is thrown away if anything fails before the swap, whose own commit
            # waits for the WAL, and so for every write before it.
            await conn.execute("SET LOCAL synchronous_commit = off")
            await self.projection.apply(conn, events)

    def _decode(self, data: bytes) -> Any:
        try:
            event = decode_event(data)
        except EventDecodeError:
            return None
        return event if isinstance(event, self.projection.accepts) else None

    async def _create_tables(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for live in self.projection.tables:
                await conn.execute(f"DROP TABLE IF EXISTS {live}{SUFFIX}")
                await conn.execute(f"CREATE TABLE {live}{SUFFIX} (LIKE {live} INCLUDING ALL)")
                for r in await conn.fetch(_TRIGGERS, live):  # LIKE copies none
                    await conn.execute(_on_table(r["definition"], live, f"{live}{SUFFIX}"))
            for live in self.projection.index_after_load:
                for r in await conn.fetch(_UNCONSTRAINED_INDEXES, f"{live}{SUFFIX}"):
                    self._deferred_indexes.append(r["definition"])
                    await conn.execute(f'DROP INDEX "{r["name"]}"')

    async def _build_deferred_indexes(self) -> None:
        """One sorted build per index instead of an insert into each at every row (bulk loading
        as PostgreSQL's manual advises); outside the swap's lock, so readers never wait on it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
            for definition in self._deferred_indexes:
                await conn.execute(definition, timeout=INDEX_BUILD_TIMEOUT_S)  # not the pool's 60 s

    async def _swap(self, feed: bus.InboxFetcher, bar: Any) -> None:
        js = self.nc.jetstream()
        tables = self.projection.tables
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            # Catch up outside the lock first, so the locked part is short.
            await self._until(feed, (await js.stream_info(self.stream)).state.last_seq, None, bar)
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SET LOCAL lock_timeout = '10s'")
                    await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
                    # Every event the live projector applied is in the stream by now.
                    await self._until(feed, (await js.stream_info(self.stream)).state.last_seq, conn, bar)
                    await self.projection.carry_over(conn)
                    await _rename(conn, tables)
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as exc:
                log.warning("replay.swap_retry", projection=self.projection.name, attempt=attempt, error=str(exc))
        raise RuntimeError(f"could not lock the live tables in {SWAP_ATTEMPTS} attempts")


async def _carry_foreign(conn: Conn, live: str, key: str, owned: Sequence[str]) -> None:
    """Copy the columns of ``live`` the projection does not own (e.g. ``vehicles.short_url``);
    what is derived from them follows by itself (``vehicles.record_json``, by its trigger)."""
    rows = await conn.fetch(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
           ORDER BY ordinal_position""",
        live,
    )
    foreign = [r["column_name"] for r in rows if r["column_name"] not in owned]
    if foreign:
        assignments = ", ".join(f'"{c}" = v."{c}"' for c in foreign)
        differ = " OR ".join(f'r."{c}" IS DISTINCT FROM v."{c}"' for c in foreign)
        await conn.execute(
            f"UPDATE {live}{SUFFIX} AS r SET {assignments} "  # noqa: S608 - catalog names
            f"FROM {live} AS v WHERE r.{key} = v.{key} AND ({differ})"  # rows that differ only
        )


class StreamBehind(RuntimeError):
    """The live table holds changes its stream no longer has (acknowledged by a NATS that lost
    them in a power loss before fsync, or purged): swapping would drop them, so nothing changes."""


async def _refuse_lost_dealers(conn: Conn) -> None:
    """``OD_DEALERS`` is not re-fetchable and the ``dealers`` table is the copy admins waited
    for: a rebuild must hold every live row's latest change (docs/guarantees.md, G10)."""
    live, rebuild = dealers.LIVE, dealers.LIVE + SUFFIX
    rows = await conn.fetch(
        f"""SELECT d.dealer_id FROM {live} AS d LEFT JOIN {rebuild} AS r USING (dealer_id)
            WHERE r.dealer_id IS NULL OR (d.event_at, d.event_id) > (r.event_at, r.event_id)
            ORDER BY d.dealer_id"""  # noqa: S608 - constant names
    )
    if rows:
        ids = [r["dealer_id"] for r in rows]
        raise StreamBehind(
            f"{len(ids)} dealer(s) have changes the stream no longer holds ({', '.join(ids[:10])}):"
            " republish them (`od dealer upsert`) before replaying; the live table is unchanged"
        )


async def _carry_dealers(conn: Conn) -> None:
    """Refuse a stream that lost changes the table holds; then, besides foreign columns: when
    the dealer appeared and last changed (a rebuild changes neither: ``updated_at`` is kept for a
    row at the same event, which the geocoder may have touched since), and the geocoder's
    location where the live projector would keep it: no explicit one in the event, the same
    address."""
    await _refuse_lost_dealers(conn)
    live, rebuild = dealers.LIVE, dealers.LIVE + SUFFIX
    await _carry_foreign(conn, live, "dealer_id", dealers.DEALER_COLUMNS)
    await conn.execute(
        f"""UPDATE {rebuild} AS r SET created_at = d.created_at,
                updated_at = CASE WHEN r.event_id = d.event_id THEN d.updated_at ELSE r.updated_at END
            FROM {live} AS d WHERE r.dealer_id = d.dealer_id"""  # noqa: S608 - constant names
    )
    same_address = " AND ".join(f"r.{c} IS NOT DISTINCT FROM d.{c}" for c in dealers.ADDRESS)
    await conn.execute(
        f"""UPDATE {rebuild} AS r SET lat = d.lat, lng = d.lng, location_source = d.location_source
            FROM {live} AS d WHERE r.dealer_id = d.dealer_id AND r.location_source IS NULL
                AND d.location_source LIKE 'geocoded:%' AND {same_address}"""  # noqa: S608 - constant names
    )


_INDEX_NAME = re.compile(r"INDEX (\S+) ON (\S+)")
_UNCONSTRAINED_INDEXES = """SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass($1)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid)
    ORDER BY c.relname"""


_TRIGGERS = """SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger
    WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY tgname"""


def _on_table(trigger: str, live: str, rebuild: str) -> str:
    """A live table's ``CREATE TRIGGER`` statement, made for its rebuild."""
    statement, found = re.subn(rf" ON (?:\w+\.)?{live} ", f" ON {rebuild} ", trigger, count=1)
    if not found:
        raise ValueError(f"cannot tell which table this trigger is on: {trigger}")
    return statement


async def _rename(conn: Conn, tables: Sequence[str]) -> None:
    """Drop the live tables and give the new ones (and their indexes) the live names."""
    for live in tables:
        old_indexes = await _indexes(conn, live)
        await conn.execute(f"DROP TABLE {live}")
        await conn.execute(f"ALTER TABLE {live}{SUFFIX} RENAME TO {live}")
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


async def replay(
    name: str, pool: asyncpg.Pool, nc: NatsClient, subjects: Subjects, *, batch: int = 6000, progress: bool = True
) -> ReplayResult:
    """Rebuild the projection ``name`` (a key of :data:`PROJECTIONS`) and swap it in."""
    return await Replay(PROJECTIONS[name](), pool, nc, subjects, batch=batch, progress=progress).run()


async def replay_vehicles(
    pool: asyncpg.Pool, nc: NatsClient, subjects: Subjects, *, batch: int = 6000, progress: bool = True
) -> ReplayResult:
    return await replay("vehicles", pool, nc, subjects, batch=batch, progress=progress)
