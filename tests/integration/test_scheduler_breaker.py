"""The circuit breaker per external host, shared through Postgres: opens after repeated failures,
skips the host's jobs (recorded as skipped), half-opens after the cool-down, closes on success."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry

from od.config import Settings
from od.scheduling import store
from od.scheduling.breaker import CLOSED, Policy
from od.scheduling.metrics import JobMetrics
from od.scheduling.scheduler import run_now
from od.streams import StreamsFile
from tests.integration.scheduler_support import (
    Answer,
    FakeSource,
    fast,
    insert_dealer,
    job_worker,
    runtime_for,
    wait_for,
)


async def ended(db: asyncpg.Pool, run_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT * FROM job_runs WHERE run_id = $1 AND status IN ('succeeded', 'failed', 'skipped')", run_id
    )
    return row


async def test_breaker_opens_skips_half_opens_and_closes(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    source = FakeSource(default=Answer(503))
    tuned = fast(settings, jobs_attempts=1, jobs_breaker_failures=2, jobs_breaker_cooldown_s=1.0)
    registry = CollectorRegistry()
    metrics = JobMetrics(registry)
    async with source.serve(), runtime_for(tuned) as rt:
        host = source.url.removeprefix("http://")
        for dealer in ("b1", "b2", "b3", "b4"):
            await insert_dealer(db, dealer, ["homenet"], source.url)

        async def run(dealer: str) -> asyncpg.Record:
            ref = await run_now(rt, dealer, "homenet")
            return await wait_for(lambda: ended(db, ref.run_id), what=f"{dealer}'s run")

        async with job_worker(rt):
            assert (await run("b1"))["status"] == "failed"
            assert (await store.breakers(db))[host].state == "closed"
            assert (await run("b2"))["status"] == "failed"
            opened = (await store.breakers(db))[host]
            assert (opened.state, opened.failures) == ("open", 2)

            await metrics.refresh(db)
            assert scrape(registry, "od_jobs_breaker_state", host=host) == 2.0
            assert scrape(registry, "od_jobs_breaker_failures", host=host) == 2.0

            skipped = await run("b3")
            assert skipped["status"] == "skipped"
            assert skipped["error"].startswith(
                f"circuit open for {host} after 2 consecutive failures; next trial after"
            )
            assert source.requests("b3") == []  # the host was left alone

            await wait_for(
                lambda: db.fetchval(
                    "SELECT now() >= opened_at + interval '1 second' FROM circuit_breakers WHERE host = $1", host
                ),
                what="the cool-down",
            )
            source.default = Answer(200)
            trial = await run("b4")  # half-open: one trial goes through, and succeeds
            assert trial["status"] == "succeeded"
            closed = (await store.breakers(db))[host]
            assert (closed.state, closed.failures) == ("closed", 0)
            assert (await run("b3"))["status"] == "succeeded"

    # /metrics, as the API computes it at scrape time.
    await metrics.refresh(db)
    assert scrape(registry, "od_jobs_breaker_state", host=host) == 0.0
    assert scrape(registry, "od_jobs_ended", status="failed") == 2.0
    assert scrape(registry, "od_jobs_ended", status="skipped") == 1.0
    assert scrape(registry, "od_jobs_ended", status="succeeded") == 2.0
    assert scrape(registry, "od_jobs_success_ratio", job="homenet") == 2 / 5
    assert scrape(registry, "od_jobs_dealer_success_ratio", dealer_id="b3") == 0.5
    assert scrape(registry, "od_jobs_dealer_success_ratio", dealer_id="b1") == 0.0
    assert scrape(registry, "od_jobs_throughput_per_minute") == 5 / 5


def scrape(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_breaker_state_is_shared_by_every_worker(db: asyncpg.Pool, database_url: str) -> None:
    policy = Policy(threshold=2, cooldown_s=60.0, trial_lease_s=60.0)
    other = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert other is not None
    try:
        assert await store.breaker_admit(db, "feeds.test", policy) == (True, CLOSED)
        await store.breaker_failed(db, "feeds.test", policy)
        await store.breaker_failed(other, "feeds.test", policy)  # a second worker's failure counts too
        admitted, state = await store.breaker_admit(other, "feeds.test", policy)
        assert not admitted and state.state == "open"
        assert (await store.breaker_admit(db, "feeds.test", policy))[0] is False
        await store.breaker_succeeded(db, "feeds.test")
        assert (await store.breaker_admit(other, "feeds.test", policy))[0] is True
    finally:
        await other.close()
