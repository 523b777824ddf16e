"""The vehicle projection's store: per-source registers, feed completions and the merged record
in Postgres, applied in batches with set-based SQL, plus the outbox of ``VehicleChanged``.

``apply`` runs inside the caller's transaction and is idempotent: the registers only move
forward, so a redelivered batch changes nothing and publishes nothing.

Concurrency (two workers on one durable consumer, and the dealer projector): a batch takes a
transaction-scoped advisory lock per dealer (shared for observations, exclusive for a
``FeedCompleted`` or a price-preference change, in one global order) and locks the rows of the
vehicles it observes (``FOR UPDATE``, sorted). A vehicle two workers create at once is caught by
``INSERT … ON CONFLICT DO NOTHING`` counting short: the batch raises ``ConcurrentCreate`` and is
retried, then sees the other's row.

Per event, in delivery order, the batch folds the event into the vehicle's state and compares
the public record before and after, so ``VehicleChanged`` events (and ``updated_at``) do not
depend on how the stream was cut into batches. Fields, sources, first seen and status are
independent of the delivery order too; ``updated_at`` and ``sold_at`` are the event times of the
change as it was applied (with in-order delivery: when it happened).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from od.events import FeedCompleted, VehicleChanged, VehicleObserved, encode_event
from od.events.model import FieldWarning, VehicleRecord
from od.projections import merge
from od.projections.db import Conn
from od.projections.merge import Completion, SourceState, Status

DEFAULT_PRICE_PREFERENCE = "scrape"
NOTIFY_CHANNEL = "od_vehicle_changes"

VEHICLE_COLUMNS: tuple[str, ...] = (
    "vehicle_id",
    "dealer_id",
    *merge.MERGED_FIELDS,
    "warnings",
    "status",
    "sources",
    "first_seen_at",
    "updated_at",
    "sold_at",
    "record_json",
)
"""The columns of ``vehicles`` this projection owns (others, like ``short_url``, belong to
other workers and survive a replay). ``record_json`` is the record as the API sends it: this
projection writes it (a store that publishes nothing, a replay's, leaves it NULL), and a
trigger fills it when it is NULL or another worker changes the row (migrations/0008)."""

OBSERVATION_COLUMNS = ("vehicle_id", "source", "dealer_id", "vehicle_key", "registers", "first_seen_at", "last_seen_at")

_JSON = msgspec.json.Encoder()
_PACK = msgspec.msgpack.Encoder(order="deterministic")  # equal registers, equal bytes
_UNPACK = msgspec.msgpack.Decoder(tuple[int, str, dict[str, Any], dict[str, tuple[int, str]]])


def pack_registers(state: SourceState) -> bytes:
    """msgpack ``[t, e, {field: value}, {field: [t, e]}]`` (see ``SourceState``)."""
    return _PACK.encode((state.t, state.e, state.values, state.stamps))


_EMPTY = _PACK.encode((0, "", {}, {}))  # a source loaded for sold detection only


def unpack_state(data: bytes, first_seen: datetime, last_seen: datetime) -> SourceState:
    t, e, values, stamps = _UNPACK.decode(data)
    return SourceState(
        t=t, e=e, values=values, stamps=stamps, first_seen=merge.micros(first_seen), last_seen=merge.micros(last_seen)
    )


class ConcurrentCreate(RuntimeError):
    """Another worker created one of this batch's vehicles meanwhile: retry the transaction."""


@dataclass(frozen=True)
class Tables:
    """The table names one store writes: the live ones, or a replay's fresh copies."""

    vehicles: str = "vehicles"
    observations: str = "vehicle_observations"
    completions: str = "feed_completions"

    def with_suffix(self, suffix: str) -> Tables:
        return Tables(self.vehicles + suffix, self.observations + suffix, self.completions + suffix)

    def all(self) -> tuple[str, str, str]:
        return (self.vehicles, self.observations, self.completions)


LIVE = Tables()


@dataclass
class _Vehicle:
    vehicle_id: str
    dealer_id: str
    key: str
    states: dict[str, SourceState] = field(default_factory=dict)
    full: bool = True  # registers loaded (False: only last_seen, for sold detection)
    exists: bool = False  # has a row in vehicles
    public: dict[str, Any] | None = None  # the public record as stored / last emitted
    sold_at: int | None = None
    updated_at: int = 0
    short_url: str | None = None
    stored: set[str] = field(default_factory=set)  # sources with a row in vehicle_observations
    dirty_sources: set[str] = field(default_factory=set)
    dirty: bool = False
    record: VehicleRecord | None = None  # the public record as of the last change, once built
    record_json: bytes = b""  # and its JSON


class _CompletionKeys:
    """A small LRU of completions' key sets (by event id): a dealer's keys are read once per pull."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._size = size

    def get(self, event_id: str) -> frozenset[str] | None:
        keys = self._items.get(event_id)
        if keys is not None:
            self._items.move_to_end(event_id)
        return keys

    def put(self, event_id: str, keys: frozenset[str]) -> None:
        self._items[event_id] = keys
        self._items.move_to_end(event_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def change_event_id(vehicle_id: str, change: str, payload_digest: bytes) -> str:
    """Deterministic: the same change of the same vehicle to the same record (``updated_at``
    included) always has the same id, so a re-published outbox row is deduplicated."""
    digest = hashlib.sha256(f"{vehicle_id}\x1f{change}\x1f".encode() + payload_digest)
    return "vc-" + digest.hexdigest()[:40]


def dealer_lock_key(dealer_id: str) -> int:
    digest = hashlib.blake2b(f"od.dealer:{dealer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_dealers(conn: Conn, shared: Iterable[str], exclusive: Iterable[str]) -> None:
    """Transaction-scoped dealer locks in one global order (no deadlock between batches)."""
    modes: dict[int, bool] = {dealer_lock_key(d): False for d in shared}
    modes.update({dealer_lock_key(d): True for d in exclusive})
    if not modes:
        return
    keys = sorted(modes)
    await conn.execute(
        """SELECT CASE WHEN x THEN pg_advisory_xact_lock(k) ELSE pg_advisory_xact_lock_shared(k) END
           FROM unnest($1::bigint[], $2::bool[]) AS u(k, x)""",
        keys,
        [modes[k] for k in keys],
    )


class VehicleStore:
    def __init__(self, tables: Tables = LIVE, *, publish: bool = True, lock: bool = True) -> None:
        self.tables = tables
        self.publish = publish
        self.lock = lock
        self._keys = _CompletionKeys()
        t = tables
        # Table names are this module's constants (never input), so formatting them in is safe.
        self._sql_candidates = f"""SELECT DISTINCT vehicle_id FROM {t.observations}
            WHERE (dealer_id, source) IN (SELECT * FROM unnest($1::text[], $2::text[]))"""  # noqa: S608
        self._sql_rows = f"""SELECT vehicle_id, status, sold_at, updated_at, short_url FROM {t.vehicles}
            WHERE vehicle_id = ANY($1::text[]) ORDER BY vehicle_id"""  # noqa: S608
        self._sql_full = f"""SELECT vehicle_id, source, dealer_id, vehicle_key, registers,
                first_seen_at, last_seen_at
            FROM {t.observations} WHERE vehicle_id = ANY($1::text[])"""  # noqa: S608
        self._sql_light = f"""SELECT vehicle_id, source, dealer_id, vehicle_key, NULL AS registers,
                first_seen_at, last_seen_at
            FROM {t.observations} WHERE vehicle_id = ANY($1::text[])"""  # noqa: S608
        self._sql_completions = f"""SELECT dealer_id, source, run_id, event_id, occurred_at
            FROM {t.completions} WHERE dealer_id = ANY($1::text[])"""  # noqa: S608
        self._sql_keys = f"""SELECT event_id, keys FROM {t.completions}
            WHERE (dealer_id, source) IN (SELECT * FROM unnest($1::text[], $2::text[]))"""  # noqa: S608
        self._sql_save_completion = f"""INSERT INTO {t.completions}
                (dealer_id, source, run_id, event_id, occurred_at, keys)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (dealer_id, source) DO UPDATE
            SET run_id = excluded.run_id, event_id = excluded.event_id,
                occurred_at = excluded.occurred_at, keys = excluded.keys
            WHERE ({t.completions}.occurred_at, {t.completions}.event_id)
                < (excluded.occurred_at, excluded.event_id)"""  # noqa: S608
        self._sql_save_observations = f"""INSERT INTO {t.observations} AS o
                (vehicle_id, source, dealer_id, vehicle_key, registers, first_seen_at, last_seen_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                                 $6::timestamptz[], $7::timestamptz[])
            ON CONFLICT (vehicle_id, source) DO UPDATE
            SET registers = excluded.registers, first_seen_at = excluded.first_seen_at,
                last_seen_at = excluded.last_seen_at"""  # noqa: S608
        assignments = ", ".join(f"{c} = s.{c}" for c in VEHICLE_COLUMNS[1:] if c != "record_json")
        # The JSON holds the short_url the batch read; if the shortener changed it since (a row
        # read without FOR UPDATE), NULL lets the trigger write the JSON from the row instead.
        self._sql_update_vehicles = f"""UPDATE {t.vehicles} AS v SET {assignments},
                record_json = CASE WHEN v.short_url IS NOT DISTINCT FROM s.short_url THEN s.record_json END
            FROM od_stage_vehicles AS s WHERE v.vehicle_id = s.vehicle_id"""  # noqa: S608
        self._sql_dealer_vehicles = f"""SELECT DISTINCT vehicle_id FROM {t.observations}
            WHERE dealer_id = $1 ORDER BY vehicle_id"""  # noqa: S608

    # --- the batch ----------------------------------------------------------------------------

    async def apply(self, conn: Conn, events: Sequence[VehicleObserved | FeedCompleted]) -> list[VehicleChanged]:
        """Fold ``events`` (in delivery order) into the projection; returns the changes, which
        are also written to the outbox when this store publishes."""
        observed = {e.vehicle_id for e in events if isinstance(e, VehicleObserved)}
        feeds = {(e.dealer_id, e.source) for e in events if isinstance(e, FeedCompleted)}
        if self.lock:
            await lock_dealers(conn, {e.dealer_id for e in events}, {dealer for dealer, _ in feeds})
        batch = _Batch(self, conn)
        await batch.load(sorted(observed), feeds, lock_rows=self.lock)
        for event in events:
            if isinstance(event, VehicleObserved):
                batch.observe(event)
            else:
                await batch.complete(event)
        return await batch.save()

    async def remerge_dealer(
        self, conn: Conn, dealer_id: str, old_preference: str, at: datetime, chunk: int = 1000
    ) -> list[VehicleChanged]:
        """Recompute a dealer's records after its price preference changed (caller holds the
        dealer's exclusive lock and has already written the new preference)."""
        ids = [r["vehicle_id"] for r in await conn.fetch(self._sql_dealer_vehicles, dealer_id)]
        changes: list[VehicleChanged] = []
        for start in range(0, len(ids), chunk):
            batch = _Batch(self, conn)
            await batch.load(
                ids[start : start + chunk], set(), lock_rows=False, preference_override=(dealer_id, old_preference)
            )
            batch.remerge(merge.micros(at))
            changes.extend(await batch.save())
        return changes

    # --- loading ------------------------------------------------------------------------------

    async def _completions(self, conn: Conn, dealers: Iterable[str]) -> dict[tuple[str, str], Completion]:
        rows = await conn.fetch(self._sql_completions, sorted(set(dealers)))
        missing = [r for r in rows if self._keys.get(r["event_id"]) is None]
        if missing:
            fetched = await conn.fetch(
                self._sql_keys, [r["dealer_id"] for r in missing], [r["source"] for r in missing]
            )
            for r in fetched:
                self._keys.put(r["event_id"], frozenset(r["keys"]))
        out: dict[tuple[str, str], Completion] = {}
        for r in rows:
            keys = self._keys.get(r["event_id"])
            if keys is None:  # replaced meanwhile; the lock makes this unreachable in practice
                continue
            out[(r["dealer_id"], r["source"])] = Completion(
                t=merge.micros(r["occurred_at"]), e=r["event_id"], run_id=r["run_id"], keys=keys
            )
        return out


class _Batch:
    """One transaction's working set: the vehicles a batch touches, their sources, the
    completions and price preferences of their dealers."""

    def __init__(self, store: VehicleStore, conn: Conn) -> None:
        self.store = store
        self.conn = conn
        self.vehicles: dict[str, _Vehicle] = {}
        self.completions: dict[tuple[str, str], Completion] = {}
        self.dirty_completions: dict[tuple[str, str], Completion] = {}
        self.preferences: dict[str, str] = {}
        self.changes: list[tuple[VehicleChanged, bytes]] = []  # and its encoding

    async def load(
        self,
        observed: list[str],
        feeds: set[tuple[str, str]],
        *,
        lock_rows: bool,
        preference_override: tuple[str, str] | None = None,
    ) -> None:
        store, conn = self.store, self.conn
        candidates: list[str] = []
        if feeds:
            pairs = sorted(feeds)
            rows = await conn.fetch(store._sql_candidates, [d for d, _ in pairs], [s for _, s in pairs])
            seen = set(observed)
            candidates = sorted(r["vehicle_id"] for r in rows if r["vehicle_id"] not in seen)
        vehicle_rows = await conn.fetch(store._sql_rows + (" FOR UPDATE" if lock_rows else ""), observed)
        if candidates:
            vehicle_rows.extend(await conn.fetch(store._sql_rows, candidates))
        await self._load_sources(observed, full=True)
        await self._load_sources(candidates, full=False)
        dealers = {v.dealer_id for v in self.vehicles.values()} | {d for d, _ in feeds}
        self.completions = await store._completions(conn, dealers)
        for r in await conn.fetch(
            "SELECT dealer_id, price_preference FROM dealers WHERE dealer_id = ANY($1::text[])", sorted(dealers)
        ):
            self.preferences[r["dealer_id"]] = r["price_preference"]
        old_preferences = dict(self.preferences)
        if preference_override:
            old_preferences[preference_override[0]] = preference_override[1]
        for r in vehicle_rows:
            v = self.vehicles.get(r["vehicle_id"])
            if v is None:  # a row without observations (not written by this projection)
                continue
            v.exists = True
            v.sold_at = merge.micros(r["sold_at"]) if r["sold_at"] else None
            v.updated_at = merge.micros(r["updated_at"])
            v.short_url = r["short_url"]
            if v.full:
                status: Status = r["status"]
                v.public = merge.public_values(v.states, status, self._preference(v.dealer_id, old_preferences))
            else:
                v.public = {"status": r["status"]}

    async def _load_sources(self, ids: list[str], *, full: bool) -> None:
        if not ids:
            return
        store = self.store
        rows = await self.conn.fetch(store._sql_full if full else store._sql_light, ids)
        for r in rows:
            v = self.vehicles.get(r["vehicle_id"])
            if v is None:
                v = self.vehicles[r["vehicle_id"]] = _Vehicle(r["vehicle_id"], r["dealer_id"], r["vehicle_key"])
            v.full = full
            v.stored.add(r["source"])
            v.states[r["source"]] = unpack_state(
                r["registers"] if full else _EMPTY, r["first_seen_at"], r["last_seen_at"]
            )

    async def _load_full(self, vehicles: list[_Vehicle]) -> None:
        """Registers for vehicles loaded light whose status is about to change."""
        light = [v for v in vehicles if not v.full]
        if not light:
            return
        rows = await self.conn.fetch(self.store._sql_full, [v.vehicle_id for v in light])
        by_id = {v.vehicle_id: v for v in light}
        for r in rows:
            v = by_id[r["vehicle_id"]]
            v.states[r["source"]] = unpack_state(r["registers"], r["first_seen_at"], r["last_seen_at"])
        for v in light:
            v.full = True
            assert v.public is not None
            v.public = merge.public_values(v.states, v.public["status"], self._preference(v.dealer_id))

    def _preference(self, dealer_id: str, preferences: dict[str, str] | None = None) -> str:
        return (preferences or self.preferences).get(dealer_id, DEFAULT_PRICE_PREFERENCE)

    def _status(self, v: _Vehicle) -> tuple[Status, int | None]:
        completions = {s: self.completions.get((v.dealer_id, s)) for s in v.states}
        return merge.vehicle_status(v.states, v.key, completions)

    # --- folding events -----------------------------------------------------------------------

    def observe(self, event: VehicleObserved) -> None:
        vid = event.vehicle_id
        v = self.vehicles.get(vid)
        if v is None:
            v = self.vehicles[vid] = _Vehicle(vid, event.dealer_id, event.key)
        t = merge.micros(event.occurred_at)
        state, changed = merge.apply_observation(
            v.states.get(event.source), merge.observed_values(event), t, event.event_id
        )
        if not changed:
            return
        v.states[event.source] = state
        v.dirty_sources.add(event.source)
        self._refresh(v, t)

    async def complete(self, event: FeedCompleted) -> None:
        pair = (event.dealer_id, event.source)
        completion = Completion(
            t=merge.micros(event.occurred_at), e=event.event_id, run_id=event.run_id, keys=frozenset(event.keys)
        )
        if not completion.newer_than(self.completions.get(pair)):
            return
        self.completions[pair] = self.dirty_completions[pair] = completion
        self.store._keys.put(event.event_id, completion.keys)
        affected = [v for v in self.vehicles.values() if v.dealer_id == event.dealer_id and event.source in v.states]
        flipping = [v for v in affected if v.public is None or self._status(v)[0] != v.public["status"]]
        await self._load_full(flipping)
        for v in flipping:
            self._refresh(v, completion.t)

    def remerge(self, t: int) -> None:
        for v in self.vehicles.values():
            self._refresh(v, t)

    def _refresh(self, v: _Vehicle, t: int) -> None:
        """Recompute ``v``'s public record after an event at ``t``; note a real change."""
        status, gone_at = self._status(v)
        public = merge.public_values(v.states, status, self._preference(v.dealer_id))
        change = merge.change_kind(v.public, public)
        if change is None:
            return
        changed_fields = merge.changed_keys(v.public, public)
        if change == "sold":
            v.sold_at = gone_at
        elif change in ("relisted", "created"):
            v.sold_at = gone_at if status == "sold" else None
        v.updated_at = max(v.updated_at, t)
        v.public = public
        v.dirty = True
        v.record = None
        if self.store.publish:
            self.changes.append(_changed(v, change, changed_fields))

    # --- writing ------------------------------------------------------------------------------

    async def save(self) -> list[VehicleChanged]:
        store, conn = self.store, self.conn
        for (dealer_id, source), c in sorted(self.dirty_completions.items()):
            await conn.execute(
                store._sql_save_completion,
                dealer_id,
                source,
                c.run_id,
                c.e,
                merge.from_micros(c.t),
                sorted(c.keys),
            )
        rows = sorted(
            (
                v.vehicle_id,
                source,
                v.dealer_id,
                v.key,
                pack_registers(state),
                merge.from_micros(state.first_seen),
                merge.from_micros(state.last_seen),
                source in v.stored,
            )
            for v in self.vehicles.values()
            for source in v.dirty_sources
            for state in (v.states[source],)
        )
        new = [r[:-1] for r in rows if not r[-1]]
        if new:
            await _copy_new(conn, store.tables.observations, OBSERVATION_COLUMNS, new)
        stored = [r[:-1] for r in rows if r[-1]]
        if stored:
            await conn.execute(store._sql_save_observations, *map(list, zip(*stored, strict=True)))
        dirty = sorted((v for v in self.vehicles.values() if v.dirty), key=lambda v: v.vehicle_id)
        if dirty:
            await self._save_vehicles(dirty)
        changes = [c for c, _ in self.changes]
        if changes and store.publish:
            await conn.copy_records_to_table(
                "vehicle_changes_outbox",
                columns=("event_id", "dealer_id", "payload"),
                records=[(c.event_id, c.dealer_id, payload) for c, payload in self.changes],
            )
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        return changes

    async def _save_vehicles(self, dirty: list[_Vehicle]) -> None:
        """New vehicles are copied straight in (a concurrent create of the same vehicle fails
        the copy: the batch is retried); changed ones go through a staging table."""
        conn, store = self.conn, self.store
        # Without VehicleChanged to publish the record is not built here: Postgres's trigger
        # writes the row's JSON (migrations/0008), on its core instead of Python's (a replay).
        with_json = store.publish
        new = [_vehicle_row(v, with_json) for v in dirty if not v.exists]
        changed = [(*_vehicle_row(v, with_json), v.short_url) for v in dirty if v.exists]
        if new:
            await _copy_new(conn, store.tables.vehicles, VEHICLE_COLUMNS, new)
        if changed:
            await conn.execute(_STAGE_DDL)
            await conn.execute("DELETE FROM od_stage_vehicles")  # an earlier chunk of this transaction
            await conn.copy_records_to_table("od_stage_vehicles", columns=_STAGE_COLUMNS, records=changed)
            await conn.execute(store._sql_update_vehicles)


async def _copy_new(conn: Conn, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]) -> None:
    try:
        await conn.copy_records_to_table(table, columns=columns, records=records)
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrentCreate(f"{table}: {exc}") from None


_STAGE_DDL = """CREATE TEMP TABLE IF NOT EXISTS od_stage_vehicles (
    vehicle_id text, dealer_id text, vin text, stock_number text, year integer, make text, model text,
    trim text, body_style text, drivetrain text, transmission text, engine text, fuel_type text,
    exterior_color text, interior_color text, condition text, mileage integer, price numeric(12, 2),
    msrp numeric(12, 2), currency text, images text[], options text[], description text, dealer_url text,
    date_in_stock date, warnings jsonb, status text, sources text[], first_seen_at timestamptz,
    updated_at timestamptz, sold_at timestamptz, record_json text, short_url text) ON COMMIT DELETE ROWS"""
_STAGE_COLUMNS = (*VEHICLE_COLUMNS, "short_url")


_DATE_IN_STOCK = VEHICLE_COLUMNS.index("date_in_stock")


def _record_of(v: _Vehicle) -> tuple[VehicleRecord, bytes]:
    """``v``'s public record and its JSON, built once per change: for its VehicleChanged (id,
    payload) and its row."""
    if v.record is None:
        v.record = _record(v)
        v.record_json = _JSON.encode(v.record)
    return v.record, v.record_json


def _record(v: _Vehicle) -> VehicleRecord:
    assert v.public is not None
    values = {k: val for k, val in v.public.items() if val is not None}
    values.update(
        vehicle_id=v.vehicle_id,
        dealer_id=v.dealer_id,
        first_seen_at=merge.from_micros(v.public["first_seen_at"]),
        updated_at=merge.from_micros(v.updated_at),
        sold_at=merge.from_micros(v.sold_at) if v.sold_at else None,
        short_url=v.short_url,
    )
    if values[merge.WARNINGS]:  # dicts whose key order depends on where they were read: fix it
        values[merge.WARNINGS] = [FieldWarning(**w) for w in values[merge.WARNINGS]]
    # The values are the events' own, already validated: the Struct only encodes them.
    return VehicleRecord(**values)


def _vehicle_row(v: _Vehicle, with_json: bool) -> tuple[Any, ...]:
    public = v.public
    assert public is not None
    values = [v.vehicle_id, v.dealer_id, *map(public.get, merge.MERGED_FIELDS)]
    if values[_DATE_IN_STOCK] is not None:
        values[_DATE_IN_STOCK] = date.fromisoformat(str(values[_DATE_IN_STOCK]))
    if with_json:
        record, encoded = _record_of(v)
        times = (record.first_seen_at, record.updated_at, record.sold_at)
        record_json: str | None = encoded.decode()
    else:  # the trigger writes it
        times = (
            merge.from_micros(public["first_seen_at"]),
            merge.from_micros(v.updated_at),
            merge.from_micros(v.sold_at) if v.sold_at else None,
        )
        record_json = None
    values += [_JSON.encode(public[merge.WARNINGS]).decode(), public["status"], public["sources"], *times, record_json]
    return tuple(values)


def _changed(v: _Vehicle, change: merge.Change, changed_fields: list[str]) -> tuple[VehicleChanged, bytes]:
    """The change and its encoding, the record's JSON spliced in rather than encoded again."""
    record, record_json = _record_of(v)
    changed = VehicleChanged(
        event_id=change_event_id(v.vehicle_id, change, hashlib.sha256(record_json).digest()),
        occurred_at=record.updated_at,
        dealer_id=v.dealer_id,
        vehicle_id=v.vehicle_id,
        change=change,
        vehicle=record,
        changed_fields=changed_fields,
    )
    return changed, encode_event(msgspec.structs.replace(changed, vehicle=msgspec.Raw(record_json)))
