"""Helpers for the fetcher tests: a Runtime on the test's servers, a dealer row, and what a
pull left on the stream and in the tables."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from od.config import Settings
from od.events import FeedCompleted, VehicleObserved, decode_event
from od.runtime import Runtime

FAST = {"fetch_attempts": 2, "fetch_timeout_s": 5.0}
"""Test settings: one retry, short timeouts."""


@contextlib.asynccontextmanager
async def opened(settings: Settings, **changes: Any) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings.replace(**{**FAST, **changes}), name="od-test-fetch")
    try:
        yield runtime
    finally:
        await runtime.close()


def with_settings(runtime: Runtime, **changes: Any) -> Runtime:
    return dataclasses.replace(runtime, settings=runtime.settings.replace(**changes))


async def add_dealer(runtime: Runtime, dealer_id: str, config: dict[str, Any]) -> None:
    await runtime.pool.execute(
        """INSERT INTO dealers (dealer_id, name, config, event_id, event_at)
           VALUES ($1, $2, $3::jsonb, $4, now())""",
        dealer_id,
        f"Dealer {dealer_id}",
        msgspec.json.encode(config).decode(),
        uuid.uuid4().hex,
    )


async def observations(runtime: Runtime, dealer_id: str, source: str) -> list[VehicleObserved]:
    return [
        e
        for e in await _read(runtime, runtime.subjects.vehicle_observed(dealer_id, source))
        if isinstance(e, VehicleObserved)
    ]


async def completions(runtime: Runtime, dealer_id: str, source: str) -> list[FeedCompleted]:
    return [
        e
        for e in await _read(runtime, runtime.subjects.feed_completed(dealer_id, source))
        if isinstance(e, FeedCompleted)
    ]


async def _read(runtime: Runtime, subject: str) -> list[Any]:
    """Every message on ``subject`` in OD_INVENTORY, through an ephemeral consumer."""
    js = runtime.nc.jetstream()
    stream = runtime.subjects.stream("OD_INVENTORY")
    info = await js.stream_info(stream, subjects_filter=subject)
    expected = sum((info.state.subjects or {}).values())
    if not expected:
        return []
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, filter_subject=subject)
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    events: list[Any] = []
    try:
        while len(events) < expected:
            msgs = await sub.fetch(min(1000, expected - len(events)), timeout=5)
            events.extend(decode_event(m.data) for m in msgs)
    finally:
        await sub.unsubscribe()
    return events


async def rejected(runtime: Runtime, run_id: str) -> list[dict[str, Any]]:
    rows = await runtime.pool.fetch(
        "SELECT field, reason, raw FROM rejected_vehicles WHERE run_id = $1 ORDER BY id", run_id
    )
    return [dict(row) for row in rows]
