"""``kill -9`` of an ``od worker --only vehicle-projector`` process, five times at random points
of a backlog, leaves the same projection and the same VehicleChanged as a clean fold of the
events: nothing lost, nothing applied twice, no change published twice (od.bench.crash; the
full size is ``od bench crash``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from od import streams
from od.bench import crash
from od.config import Settings
from od.events import Subjects
from tests.conftest import delete_streams

N = int(os.environ.get("OD_CRASH_EVENTS", "8000"))
KILLS = 5


@pytest.fixture
async def crash_streams(nc: NatsClient, subjects: Subjects) -> AsyncIterator[None]:
    await streams.apply(nc, crash.streams_spec(), subjects)
    yield
    await delete_streams(nc, subjects)


@pytest.mark.usefixtures("crash_streams")
async def test_kill_9_of_the_projector_loses_and_repeats_nothing(settings: Settings, other_database_url: str) -> None:
    seed = int.from_bytes(os.urandom(2), "big")
    result = await asyncio.wait_for(
        crash.crash_and_compare(settings, other_database_url, n=N, kills=KILLS, seed=seed), 120
    )
    print(result)  # shown on failure, with the seed that placed the kills
    assert result.kills == KILLS
    assert result.mismatched_rows == 0, f"seed {seed}"
    assert result.checkpoint == result.last_seq and result.dead_letters == 0 and result.outbox == 0
    assert result.changes == result.expected_changes > N // 2
    assert result.missing_changes == 0 and result.duplicate_changes == 0
