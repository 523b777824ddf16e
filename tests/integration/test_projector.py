"""The vehicle and dealer projectors over real NATS and Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta

import pytest
from nats.aio.client import Client as NatsClient

from od.config import Settings
from od.events import FeedCompleted, VehicleChanged, VehicleObserved, encode_event
from od.events.model import FieldWarning, utcnow
from od.handlers import deadletters, vehicle_projector
from od.projections.db import Conn
from od.projections.vehicles import _STAGE_COLUMNS, _STAGE_DDL, VEHICLE_COLUMNS, VehicleStore
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration.projection_support import (
    changes,
    completed,
    dealer,
    drained,
    eventually,
    observed,
    running,
    settle,
    snapshot,
    stale_record_json,
)


@pytest.fixture
async def runtime(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, name="od-test-projector", pool_size=6)
    yield rt
    await rt.close()


async def test_merge_across_sources_and_one_change_per_real_change(runtime: Runtime, nc: NatsClient) -> None:
    pub = runtime.publisher
    await pub.publish_all(
        [
            observed(1, "scrape", 0, make="Acura", price="19000.00", images=["https://d.test/s.jpg"]),
            observed(1, "homenet", 1, make="Honda", model="Civic", price="20000.00", images=["https://d.test/h.jpg"]),
            observed(2, "homenet", 1, make="Toyota"),
        ]
    )
    async with running(runtime):
        await settle(runtime)
        row = await runtime.pool.fetchrow("SELECT * FROM vehicles WHERE vehicle_id = 'd1:stock:S1'")
        assert row["make"] == "Honda" and row["model"] == "Civic"  # structure: homenet first
        assert row["images"] == ["https://d.test/s.jpg"]  # surface: scrape first
        assert str(row["price"]) == "19000.00"  # unknown dealer: price preference scrape
        assert row["sources"] == ["homenet", "scrape"] and row["status"] == "available"
        first = await changes(nc, runtime.subjects)
        assert sorted((c.vehicle_id, c.change) for c in first) == [
            ("d1:stock:S1", "created"),
            ("d1:stock:S1", "updated"),
            ("d1:stock:S2", "created"),
        ]

        # The same events again under new message ids (past the duplicate window): no change.
        before = await snapshot(runtime.pool)
        for event in [
            observed(1, "homenet", 1, make="Honda", model="Civic", price="20000.00", images=["https://d.test/h.jpg"]),
            observed(2, "homenet", 1, make="Toyota"),
        ]:
            await pub.publish_raw(runtime.subjects.for_event(event), encode_event(event), uuid.uuid4().hex)
        # Seen again later with nothing new: registers move, the public record does not.
        await pub.publish(observed(2, "homenet", 30, make="Toyota"))
        await settle(runtime)
        assert (await snapshot(runtime.pool))["vehicles"] == before["vehicles"]
        assert len(await changes(nc, runtime.subjects)) == len(first)

        # A dealer preferring HomeNet prices re-merges its vehicles.
        await pub.publish(dealer(price_preference="homenet", minute=40))
        await settle(runtime)
        assert str(await runtime.pool.fetchval("SELECT price FROM vehicles WHERE vehicle_id = 'd1:stock:S1'")) == (
            "20000.00"
        )
        last = (await changes(nc, runtime.subjects))[-1]
        assert last.change == "updated" and last.changed_fields == ["price"] and last.vehicle.price == "20000.00"


async def test_record_json_is_what_postgres_would_write(runtime: Runtime) -> None:
    """The projector writes each record's JSON itself; the row's trigger writes it when another
    worker changes the row (the shortener's short_url). Both say what the row says."""
    pub = runtime.publisher
    await pub.publish(dealer(price_preference="homenet"))
    await pub.publish_all(
        [
            observed(1, "scrape", 0, make="Acura", price="19000.00", images=["https://d.test/s.jpg"]),
            observed(
                1, "homenet", 1, make="Honda", model='Civic "Si"', price="20000.00", mileage=12,
                images=["https://d.test/h.jpg", "https://d.test/h2.jpg"], options=["Sunroof"],
                description="Line 1\nLine 2 \u2603 </script>", date_in_stock=date(2026, 2, 28),
                warnings=[FieldWarning(field="vin", code="check_digit", detail="VIN check digit does not match")],
            ),
            observed(2, "homenet", 1, make="Toyota"),
            completed([1], minute=2),  # S2 sold
        ]
    )  # fmt: skip
    async with running(runtime):
        await settle(runtime)
        assert await stale_record_json(runtime.pool) == []
        s1 = "d1:stock:S1"
        await runtime.pool.execute("UPDATE vehicles SET short_url = 'https://sl.test/1' WHERE vehicle_id = $1", s1)
        assert await stale_record_json(runtime.pool) == []
        await pub.publish_all([observed(1, "homenet", 5, make="Honda", price="19500.00"), observed(2, minute=6)])
        await settle(runtime)
        assert await stale_record_json(runtime.pool) == []
        record = json.loads(await runtime.pool.fetchval("SELECT record_json FROM vehicles WHERE vehicle_id = $1", s1))
        assert record["short_url"] == "https://sl.test/1" and record["price"] == "19500.00"


async def test_a_short_url_changed_under_a_batch_is_not_overwritten(runtime: Runtime) -> None:
    """A batch writes the JSON of the short_url it read; when the shortener changed it since
    (a row the batch read without locking), the row's trigger writes the JSON instead."""
    await runtime.publisher.publish(observed(1))
    async with running(runtime):
        await settle(runtime)
    store = VehicleStore()
    row = await runtime.pool.fetchrow(f"SELECT {', '.join(VEHICLE_COLUMNS)} FROM vehicles")
    await runtime.pool.execute("UPDATE vehicles SET short_url = 'https://sl.test/new'")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(_STAGE_DDL)
        stale = {**dict(row), "record_json": '{"short_url": null}', "short_url": None}
        await conn.copy_records_to_table("od_stage_vehicles", columns=_STAGE_COLUMNS, records=[
            tuple(stale[c] for c in _STAGE_COLUMNS)
        ])  # fmt: skip
        await conn.execute(store._sql_update_vehicles)
    assert await stale_record_json(runtime.pool) == []
    assert json.loads(await runtime.pool.fetchval("SELECT record_json FROM vehicles"))["short_url"] == (
        "https://sl.test/new"
    )


async def test_feed_completed_sells_and_a_new_observation_relists(runtime: Runtime, nc: NatsClient) -> None:
    pub = runtime.publisher
    await pub.publish_all([observed(1, minute=0), observed(2, minute=0), completed([1, 2], minute=1)])
    await pub.publish_all([observed(1, minute=10), completed([1], minute=11)])  # S2 gone
    await pub.publish_all([completed([1], source="scrape", dealer="d2", minute=12)])  # another dealer: no effect
    async with running(runtime):
        await settle(runtime)
        statuses = dict(await runtime.pool.fetch("SELECT vehicle_id, status FROM vehicles ORDER BY 1"))
        assert statuses == {"d1:stock:S1": "available", "d1:stock:S2": "sold"}
        sold_at = await runtime.pool.fetchval("SELECT sold_at FROM vehicles WHERE vehicle_id = 'd1:stock:S2'")
        assert sold_at == completed([1], minute=11).occurred_at
        await pub.publish_all([observed(2, minute=20)])
        await settle(runtime)
        assert await runtime.pool.fetchval("SELECT status FROM vehicles WHERE vehicle_id = 'd1:stock:S2'") == (
            "available"
        )
    kinds = [(c.vehicle_id, c.change) for c in await changes(nc, runtime.subjects)]
    assert kinds == [
        ("d1:stock:S1", "created"),
        ("d1:stock:S2", "created"),
        ("d1:stock:S2", "sold"),
        ("d1:stock:S2", "relisted"),
    ]


async def test_poison_is_dead_lettered_and_the_rest_applied(runtime: Runtime, nc: NatsClient) -> None:
    pub, subjects = runtime.publisher, runtime.subjects
    inventory = subjects.vehicle_observed("d1", "homenet")
    future = observed(9, minute=0)
    future.occurred_at = utcnow() + timedelta(hours=2)
    await pub.publish(observed(1))
    await pub.publish_raw(inventory, b"{not json", "p1")
    await pub.publish_raw(inventory, b'{"type": "VehicleObserved", "dealer_id": "d1", "source": "homenet"}', "p2")
    await pub.publish_raw(inventory, encode_event(dealer()), "p3")
    await pub.publish(future)
    await pub.publish(observed(2))
    async with running(runtime):
        await settle(runtime)
    assert await runtime.pool.fetchval("SELECT count(*) FROM vehicles") == 2
    letters = await deadletters.listing(runtime.pool)
    assert sorted(d.stream_seq for d in letters) == [2, 3, 4, 5]
    reasons = {d.stream_seq: d.reason for d in letters}
    assert "future" in reasons[5] and "not an event of OD_INVENTORY" in reasons[4]
    assert "vin" in reasons[3] and reasons[2].startswith("not an event")
    dl = await nc.jetstream().stream_info(subjects.stream("OD_DEADLETTER"))
    assert dl.state.messages == 4

    # After a fix (here: the clock caught up, simulated by a larger skew), replay the future one.
    future_letter = next(d.id for d in letters if d.stream_seq == 5)
    assert await deadletters.replay(runtime.pool, pub, [future_letter]) == [future_letter]
    relaxed = Runtime(runtime.settings.replace(max_clock_skew_s=86_400.0), runtime.nc, runtime.pool, subjects, pub)
    async with running(relaxed):
        await settle(relaxed)
    assert await runtime.pool.fetchval("SELECT count(*) FROM vehicles") == 3
    assert len(await deadletters.listing(runtime.pool)) == 3


class Crashing(VehicleStore):
    """Fails the first ``crashes`` batches after writing them, before the commit."""

    def __init__(self, crashes: int) -> None:
        super().__init__()
        self.crashes = crashes

    async def apply(self, conn: Conn, events: Sequence[VehicleObserved | FeedCompleted]) -> list[VehicleChanged]:
        result = await super().apply(conn, events)
        if self.crashes:
            self.crashes -= 1
            raise ConnectionResetError("killed mid-batch")
        return result


async def test_a_failed_transaction_leaves_the_tables_as_a_clean_run(runtime: Runtime, nc: NatsClient) -> None:
    """A crash mid-batch (an error after the writes, before commit) is rolled back, the batch
    is redelivered after a delay, and the tables end exactly as a clean run leaves them."""
    events = [observed(i % 7, ("homenet", "scrape")[i % 2], i, price=f"{20000 + i}.00") for i in range(40)]
    events.append(completed(range(5), minute=50))
    await runtime.publisher.publish_all(events)

    store = Crashing(crashes=2)
    stop = asyncio.Event()
    task = asyncio.create_task(vehicle_projector.projector(runtime, store).run(stop, batch=1000))
    await eventually(lambda: drained(nc, runtime.subjects, "OD_INVENTORY", "vehicle-projector"))
    stop.set()
    await task
    assert store.crashes == 0
    assert await runtime.pool.fetchval("SELECT stream_seq FROM consumer_checkpoints") == len(events)
    crashed = await snapshot(runtime.pool)

    await runtime.pool.execute("TRUNCATE vehicles, vehicle_observations, feed_completions, vehicle_changes_outbox")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await VehicleStore().apply(conn, events)
    assert await snapshot(runtime.pool) == crashed
