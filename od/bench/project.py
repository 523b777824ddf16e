"""Projecting realistic ``VehicleObserved`` already in the stream: the vehicle projector (one
worker in this process, then two ``od worker`` processes) vs. a raw baseline in the same run —
pull 1,000, decode, COPY into a plain table plus one ``INSERT … ON CONFLICT``, ack.

Rates are taken between 10 % and 90 % of the backlog (from the consumer's pending counts), so
process start-up and the last partial batches do not count.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from od import bus
from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.config import Settings
from od.events import Subjects, VehicleObserved
from od.handlers import vehicle_projector
from od.runtime import Runtime

DEALERS = 500
BASELINE = "bench-baseline"


async def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(200_000, 5_000)
    settings = await ctx.settings()
    nc = await bus.connect(ctx.nats_url)
    try:
        await _publish(nc, settings, n)
        baseline = await _baseline(nc, settings, n)
        one = await _in_process(nc, settings, n)
        settings2 = await ctx.settings()
        await _publish(nc, settings2, n)
        two = await _processes(nc, settings2, n, workers=2)
    finally:
        await nc.close()
    return [
        Figure("project.baseline_raw_copy", baseline, "vehicles/s"),
        Figure("project.one_worker", one, "vehicles/s", baseline, target=">= 0.5 x baseline"),
        Figure("project.two_workers", two, "vehicles/s", baseline, target=">= 10,000/s on 2 cores"),
    ]


def events(n: int) -> list[VehicleObserved]:
    return [observation(i, dealer_id=f"dealer-{i % DEALERS}") for i in range(n)]


async def _publish(nc: NatsClient, settings: Settings, n: int) -> None:
    publisher = bus.Publisher(nc, Subjects(settings.namespace))
    chunk = 20_000
    for start in range(0, n, chunk):
        await publisher.publish_all(
            observation(i, dealer_id=f"dealer-{i % DEALERS}") for i in range(start, min(n, start + chunk))
        )


async def _rate(nc: NatsClient, stream: str, durable: str, n: int) -> float:
    """Vehicles/s between 10 % and 90 % of ``n`` acknowledged (polling the consumer)."""
    js = nc.jetstream()
    marks: dict[str, float] = {}
    while "hi" not in marks:
        info = await js.consumer_info(stream, durable)
        done = n - (info.num_pending or 0) - (info.num_ack_pending or 0)
        now = time.perf_counter()
        if done >= 0.1 * n:
            marks.setdefault("lo", now)
            marks.setdefault("lo_done", done)
        if done >= 0.9 * n:
            marks["hi"], marks["hi_done"] = now, done
        await asyncio.sleep(0.05)
    return (marks["hi_done"] - marks["lo_done"]) / max(1e-9, marks["hi"] - marks["lo"])


async def _measure(
    nc: NatsClient, stream: str, durable: str, n: int, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> float:
    stop = asyncio.Event()
    task = asyncio.create_task(work(stop))
    try:
        return await _rate(nc, stream, durable, n)
    finally:
        stop.set()
        await task


class _Row(msgspec.Struct):
    """The bare pipeline's decode target: the same event, no merge."""

    event_id: str
    dealer_id: str
    source: str
    vin: str | None = None
    stock_number: str | None = None
    year: int | None = None
    make: str | None = None
    model: str | None = None
    price: str | None = None
    images: list[str] | None = None
    description: str | None = None


async def _baseline(nc: NatsClient, settings: Settings, n: int) -> float:
    subjects = Subjects(settings.namespace)
    stream = subjects.stream("OD_INVENTORY")
    await nc.jetstream().add_consumer(
        stream,
        ConsumerConfig(
            durable_name=BASELINE,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=20_000,
        ),
    )
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(
        """CREATE TABLE bench_plain (vehicle_id text PRIMARY KEY, dealer_id text, source text, event_id text,
               vin text, stock_number text, year int, make text, model text, price numeric(12, 2),
               images text[], description text, payload jsonb)"""
    )
    await conn.execute("CREATE TEMP TABLE bench_stage (LIKE bench_plain)")
    decoder = msgspec.json.Decoder(_Row)

    async def handle(msgs: list[Msg]) -> None:
        rows = []
        for m in msgs:
            r = decoder.decode(m.data)
            rows.append(
                (
                    f"{r.dealer_id}:{r.vin}",
                    r.dealer_id,
                    r.source,
                    r.event_id,
                    r.vin,
                    r.stock_number,
                    r.year,
                    r.make,
                    r.model,
                    r.price,
                    r.images,
                    r.description,
                    m.data.decode(),
                )
            )
        async with conn.transaction():
            await conn.copy_records_to_table("bench_stage", records=rows)
            await conn.execute(
                """INSERT INTO bench_plain SELECT * FROM bench_stage
                   ON CONFLICT (vehicle_id) DO UPDATE SET event_id = excluded.event_id, payload = excluded.payload"""
            )
            await conn.execute("TRUNCATE bench_stage")
        for m in msgs:
            await m.ack()

    async def work(stop: asyncio.Event) -> None:
        await bus.PullConsumer(nc, stream, BASELINE, handle, batch=1000).run(stop)

    try:
        return await _measure(nc, stream, BASELINE, n, work)
    finally:
        await conn.close()


async def _in_process(nc: NatsClient, settings: Settings, n: int) -> float:
    runtime = await Runtime.open(settings, name="od-bench-project")
    stream = runtime.subjects.stream(vehicle_projector.STREAM)
    try:
        return await _measure(
            nc, stream, vehicle_projector.CONSUMER, n, lambda stop: vehicle_projector.run(runtime, stop)
        )
    finally:
        await runtime.close()


async def _processes(nc: NatsClient, settings: Settings, n: int, *, workers: int) -> float:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "od.cli", "worker", "--only", "vehicle-projector", env=settings.child_env()
        )
        for _ in range(workers)
    ]
    try:
        return await _rate(
            nc, Subjects(settings.namespace).stream(vehicle_projector.STREAM), vehicle_projector.CONSUMER, n
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(p.wait(), 10)


async def run_replay(ctx: BenchContext) -> list[Figure]:
    """``od replay vehicles`` over realistic events already in the stream: the whole replay of
    1,000,000 events (indexes built and swap included), timed, not extrapolated: the tables'
    size slows it down."""
    from od.projections.replay import replay_vehicles

    n = ctx.size(1_000_000, 5_000)
    settings = await ctx.settings()
    nc = await bus.connect(ctx.nats_url)
    try:
        await _publish(nc, settings, n)
        runtime = await Runtime.open(settings, name="od-bench-replay")
        try:
            result = await replay_vehicles(runtime.pool, runtime.nc, runtime.subjects, progress=False)
        finally:
            await runtime.close()
    finally:
        await nc.close()
    assert result.events == n, f"replayed {result.events} of {n}"
    return [
        Figure(f"replay.vehicles ({n:,} events)", result.seconds, "s", target="<= 120 s for 1,000,000"),
        Figure("replay.vehicles_rate", result.rate, "events/s", target=">= 8,334/s"),
    ]
