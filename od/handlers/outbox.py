"""The relay: publishes ``vehicle_changes_outbox`` rows as ``VehicleChanged`` on
``od.vehicle.changed.<dealer_id>`` and deletes the rows the stream acknowledged.

Delivery is at least once, and duplicates carry the same ``event_id``:
- the projector writes a change to the outbox in the transaction that makes it, so a crash
  between commit and publish loses nothing — the row is still there;
- a crash between the publish and the delete publishes the row again; its ``event_id`` (the
  ``Nats-Msg-Id``) is a hash of the vehicle, the change and the new record, so the stream drops
  the copy within its duplicate window, and a consumer that outlives the window sees the same
  ``event_id`` twice and can skip it;
- one relay publishes at a time (a transaction-scoped advisory lock; the others wait their
  turn), in outbox order, so the changes of one vehicle reach the stream in the order they
  were made.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from od.bus import Publisher
from od.events import Subjects
from od.log import get_logger
from od.projections.vehicles import NOTIFY_CHANNEL
from od.runtime import Runtime

log = get_logger(__name__)

RELAY_LOCK = 0x0D_0CA7  # advisory lock key: one relay publishes at a time
POLL_SECONDS = 1.0


async def relay_once(pool: asyncpg.Pool, publisher: Publisher, subjects: Subjects, *, limit: int = 1000) -> int:
    """Publish up to ``limit`` rows; returns how many (0 when empty or another relay is busy)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
            return 0
        rows = await conn.fetch(
            "SELECT id, event_id, dealer_id, payload FROM vehicle_changes_outbox ORDER BY id LIMIT $1", limit
        )
        if not rows:
            return 0
        await publisher.publish_many(
            (subjects.vehicle_changed(r["dealer_id"]), r["payload"], r["event_id"]) for r in rows
        )
        await conn.execute("DELETE FROM vehicle_changes_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        return len(rows)


async def run(runtime: Runtime, stop: asyncio.Event, *, limit: int = 1000) -> None:
    """Relay until ``stop``: woken by the projector's NOTIFY, polling as a fallback."""
    wake = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake.set()

    listener: PoolConnectionProxy[Any] | None = None
    try:
        try:
            listener = await runtime.pool.acquire()
            await listener.add_listener(NOTIFY_CHANNEL, on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("relay.listen_failed", error=repr(exc))
        failures = 0
        while not stop.is_set():
            wake.clear()
            try:
                published = await relay_once(runtime.pool, runtime.publisher, runtime.subjects, limit=limit)
                failures = 0
            except Exception as exc:  # NATS or Postgres away: keep the rows, try again later
                failures += 1
                log.warning("relay.failed", error=repr(exc)[:500])
                published = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(30.0, 0.5 * 2**failures))
            if published == limit:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(wake, stop), POLL_SECONDS)
    finally:
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
            await runtime.pool.release(listener)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
