"""What ``OD_NATS_SYNC=always`` costs: two embedded NATS servers, one after the other on the same
disk, one with JetStream's default ``sync_interval`` (the baseline: acknowledged once written,
fsynced every 2 minutes) and one with ``always`` (fsynced before every ack). The same events go
through our Publisher into each: pipelined, as a fetcher publishes a batch, and one at a time
with each ack awaited, as an admin's dealer upsert does."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from od import bus, streams
from od.bench.context import BenchContext, Figure
from od.bench.data import observation
from od.embedded import EmbeddedNats
from od.events import Subjects, VehicleObserved

MODES = ("default", "always")


async def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(50_000, 2_000)
    single = ctx.size(2_000, 200)
    batch = [observation(i, dealer_id=f"dealer-{i % 500}") for i in range(n)]
    one_by_one = [observation(n + i, dealer_id=f"dealer-{i % 500}") for i in range(single)]
    rates: dict[str, tuple[float, float]] = {sync: (0.0, 0.0) for sync in MODES}
    with tempfile.TemporaryDirectory(prefix="od-bench-durability-") as root:
        # Each mode twice, alternating, on a fresh server each time; the better run of each,
        # so neither a warming machine nor one noisy moment favours a mode.
        for i, sync in enumerate(MODES * 2):
            server = EmbeddedNats(Path(root) / f"{sync}-{i}", sync=sync).start()
            try:
                measured = await _publish(server.url, batch, one_by_one)
            finally:
                server.stop()
            rates[sync] = (max(rates[sync][0], measured[0]), max(rates[sync][1], measured[1]))
    (pipelined, baseline_pipelined), (acked, baseline_acked) = zip(rates["always"], rates["default"], strict=True)
    return [
        Figure("durability.sync_always.pipelined", pipelined, "events/s", baseline_pipelined, "sync default"),
        Figure("durability.sync_always.one_at_a_time", acked, "events/s", baseline_acked, "sync default"),
    ]


async def _publish(url: str, batch: list[VehicleObserved], one_by_one: list[VehicleObserved]) -> tuple[float, float]:
    """Events per second stored, pipelined and one at a time."""
    nc = await bus.connect(url)
    try:
        subjects = Subjects()
        await streams.apply(nc, streams.load(), subjects)
        publisher = bus.Publisher(nc, subjects, max_in_flight=2048)
        started = time.perf_counter()
        stored = await publisher.publish_all(batch)
        pipelined = len(batch) / (time.perf_counter() - started)
        assert stored == len(batch), f"stored {stored} of {len(batch)}"
        started = time.perf_counter()
        for event in one_by_one:
            await publisher.publish(event)
        acked = len(one_by_one) / (time.perf_counter() - started)
    finally:
        await nc.close()
    return pipelined, acked
