"""Publishing realistic VehicleObserved events: our Publisher vs. raw nats-py ``publish_async``
of the same bytes (no envelope, no validation, no message id)."""

from __future__ import annotations

import time

from od import bus
from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.events import Subjects, encode_event


async def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(200_000, 5_000)
    events = [observation(i, dealer_id=f"dealer-{i % 500}") for i in range(n)]
    settings = await ctx.settings()
    subjects = Subjects(settings.namespace)
    nc = await bus.connect(ctx.nats_url)
    try:
        # Baseline: the same bytes, pre-encoded, through nats-py's own async publish; measured
        # before and after ours (the better of the two), so a warming server favours neither.
        payloads = [(subjects.for_event(e), encode_event(e)) for e in events]
        js = nc.jetstream(publish_async_max_pending=2048)
        stream = subjects.stream("OD_INVENTORY")

        async def raw_publish() -> float:
            started = time.perf_counter()
            for subject, payload in payloads:
                await js.publish_async(subject, payload)
            await js.publish_async_completed()
            rate = n / (time.perf_counter() - started)
            await js.purge_stream(stream)
            return rate

        baseline = await raw_publish()
        publisher = bus.Publisher(nc, subjects, max_in_flight=2048)
        started = time.perf_counter()
        stored = await publisher.publish_all(events)
        ours = n / (time.perf_counter() - started)
        assert stored == n, f"stored {stored} of {n}"
        await js.purge_stream(stream)
        baseline = max(baseline, await raw_publish())
    finally:
        await nc.close()
    return [Figure("publish.vehicle_observed", ours, "events/s", baseline, target=">= 0.8 x baseline")]
