"""`od deadletters list|replay` and `od replay vehicles|dealers`, as an operator runs them."""

from __future__ import annotations

import asyncio

from od.config import Settings
from od.events import Address, DealerChanged
from od.handlers import dealer_projector, vehicle_projector
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration.projection_support import dealer, observed, settle, snapshot, table
from tests.od_process import run_od


async def test_operator_commands(settings: Settings, js_streams: StreamsFile) -> None:
    rt = await Runtime.open(settings, name="od-test-cli")
    try:
        await rt.publisher.publish_all([observed(k, minute=k) for k in range(20)])
        await rt.publisher.publish_raw(rt.subjects.vehicle_observed("d1", "homenet"), b"{oops", "bad-1")
        stop = asyncio.Event()
        task = asyncio.create_task(vehicle_projector.run(rt, stop))
        await settle(rt)
        stop.set()
        await task
        live = await snapshot(rt.pool)

        code, out, _ = await run_od(settings, "deadletters", "list")
        assert code == 0 and "vehicle-projector" in out and "not an event" in out
        dead_id = out.split("\t", 1)[0]

        code, out, err = await run_od(settings, "replay", "vehicles", "--no-progress")
        assert code == 0, err
        assert "21 events (1 skipped)" in out and "swapped in" in out
        assert await snapshot(rt.pool) == live

        code, out, _ = await run_od(settings, "deadletters", "replay", "--id", dead_id)
        assert code == 0 and f"replayed 1 dead letter(s): {dead_id}" in out
        code, out, _ = await run_od(settings, "deadletters", "list")
        assert code == 0 and out == ""
        code, _, err = await run_od(settings, "deadletters", "replay", "--id", "999999")
        assert code == 1 and "no dead letter with id 999999" in err
    finally:
        await rt.close()


async def test_replay_dealers(settings: Settings, js_streams: StreamsFile) -> None:
    rt = await Runtime.open(settings, name="od-test-cli")
    try:
        seattle = Address(street="1 Pine St", city="Seattle", region="WA", postal_code="98101", country="US")
        await rt.publisher.publish_all(
            [
                dealer("d1", 0, address=seattle),
                dealer("d1", 1, address=seattle, phone="+1 206 555 0100"),
                dealer("d2", 0, name="Gone"),
                DealerChanged(dealer_id="d2", operation="delete"),
            ]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(dealer_projector.run(rt, stop))
        await settle(rt)
        stop.set()
        await task
        await rt.pool.execute(  # as the geocoder writes it
            """UPDATE dealers SET lat = 47.61, lng = -122.33, location_source = 'geocoded:nominatim',
               updated_at = now() WHERE dealer_id = 'd1'"""
        )
        live = await table(rt.pool, "dealers")

        code, out, err = await run_od(settings, "replay", "dealers", "--no-progress")
        assert code == 0, err
        assert "replay dealers: 4 events (0 skipped)" in out and "swapped in" in out
        assert await table(rt.pool, "dealers") == live
    finally:
        await rt.close()
