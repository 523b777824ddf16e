"""The scheduler and the ``jobs`` worker on real NATS and Postgres, pulling from a fake source
(a real HTTP server on 127.0.0.1): order within a dealer, isolation between dealers, retries,
catching up once, several schedulers at once, manual runs and history."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from od.cli import build_parser
from od.config import Settings
from od.events import Subjects
from od.runtime import Runtime
from od.scheduling import commands, store
from od.scheduling.graph import JOBS, GraphError, JobType
from od.scheduling.runner import JobRunner
from od.scheduling.scheduler import RunInProgress, Scheduler, run_now
from od.streams import StreamsFile
from tests.integration.scheduler_support import (
    Answer,
    FakeSource,
    all_ended,
    fast,
    insert_dealer,
    job_worker,
    runs,
    runtime_for,
    wait_for,
)

ALL = ["homenet", "dealer_com", "scrape"]


async def test_a_dealer_runs_its_jobs_in_graph_order(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    source = FakeSource(default=Answer(delay_s=0.03))
    async with source.serve(), runtime_for(fast(settings)) as rt:
        for dealer in ("d1", "d2", "d3"):
            await insert_dealer(db, dealer, ALL, source.url)
        await insert_dealer(db, "no-homenet", ["dealer_com", "scrape"], source.url)
        report = await Scheduler(rt).tick()
        assert report.created == 3 * 4 + 3
        assert report.published == 3 + 2  # roots only: each homenet, and the dealer without one
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 15), what="every run to end")

    history = await runs(db)
    assert {r["status"] for r in history.values()} == {"succeeded"}
    for dealer in ("d1", "d2", "d3"):
        (homenet,) = source.requests(dealer, "homenet")
        (dealer_com,) = source.requests(dealer, "dealer_com")
        (scrape,) = source.requests(dealer, "scrape")
        (shorten,) = source.requests(dealer, "url_shortening")
        assert homenet.ended is not None and scrape.ended is not None
        assert homenet.ended <= dealer_com.started and homenet.ended <= scrape.started
        assert scrape.ended <= shorten.started
    assert ("no-homenet", "homenet") not in history
    run = history[("no-homenet", "dealer_com")]
    assert (run["vehicles_found"], run["vehicles_published"], run["vehicles_rejected"], run["attempts"]) == (3, 3, 0, 1)
    assert run["host"] == source.url.removeprefix("http://")
    assert run["timings"]


async def test_a_failing_dealer_never_holds_up_another(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    source = FakeSource()
    source.will("a", "homenet", *[Answer(503, delay_s=0.4)] * 3)
    async with source.serve(), runtime_for(fast(settings)) as rt:
        await insert_dealer(db, "a", ALL, source.url)
        await insert_dealer(db, "b", ALL, source.url)
        await Scheduler(rt).tick()
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 8), what="every run to end")

    a, b = await runs(db, "a"), await runs(db, "b")
    assert a[("a", "homenet")]["status"] == "failed"
    assert a[("a", "homenet")]["attempts"] == 3
    assert "HTTP 503" in a[("a", "homenet")]["error"] and "gave up after 3 attempts" in a[("a", "homenet")]["error"]
    for job in ("dealer_com", "scrape"):
        assert a[("a", job)]["status"] == "blocked"
        assert a[("a", job)]["error"].startswith("prerequisite homenet failed")
    assert a[("a", "url_shortening")]["status"] == "blocked"
    assert a[("a", "url_shortening")]["error"].startswith("prerequisite scrape blocked")
    assert {r["status"] for r in b.values()} == {"succeeded"}
    # b went all the way through its graph while a was still retrying its first job.
    assert b[("b", "url_shortening")]["ended_at"] < a[("a", "homenet")]["ended_at"]
    assert source.requests("a", "dealer_com") == []


async def test_transient_errors_are_retried_and_permanent_ones_fail_fast(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool
) -> None:
    source = FakeSource()
    source.will("retry", "homenet", Answer(503), Answer(429, retry_after="0"))
    source.will("refused", "homenet", Answer(401))
    source.will("later", "homenet", Answer(429, retry_after="3600"))
    async with source.serve(), runtime_for(fast(settings)) as rt:
        for dealer in ("retry", "refused", "later"):
            await insert_dealer(db, dealer, ["homenet"], source.url)
        await Scheduler(rt).tick()
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 6), what="every run to end")

    history = await runs(db)
    retried = history[("retry", "homenet")]
    assert (retried["status"], retried["attempts"]) == ("succeeded", 3)
    assert [s.status for s in source.requests("retry", "homenet")] == [503, 429, 200]
    assert history[("retry", "url_shortening")]["status"] == "succeeded"

    refused = history[("refused", "homenet")]
    assert (refused["status"], refused["attempts"]) == ("failed", 1)
    assert "HTTP 401" in refused["error"] and "access refused" in refused["error"]
    assert len(source.requests("refused", "homenet")) == 1
    assert history[("refused", "url_shortening")]["status"] == "blocked"

    # A Retry-After longer than we would wait is not waited out: the next cycle comes back.
    later = history[("later", "homenet")]
    assert (later["status"], later["attempts"]) == ("failed", 1)
    assert "HTTP 429" in later["error"]


async def test_missed_ticks_are_caught_up_once(settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool) -> None:
    source = FakeSource()
    t0 = datetime(2025, 3, 10, 6, 30, tzinfo=UTC)
    async with source.serve(), runtime_for(fast(settings)) as rt:
        await insert_dealer(db, "c", ["homenet", "dealer_com"], source.url, schedules={"homenet": "0 5 * * *"})
        scheduler = Scheduler(rt)
        assert (await scheduler.tick(t0)).created == 3
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 3), what="the first cycle")
            # Five days of downtime later: one run per job, not one per missed (hourly) tick.
            back = t0 + timedelta(days=5, minutes=10)
            assert (await scheduler.tick(back)).created == 3
            assert (await Scheduler(rt).tick(back)).created == 0  # a restarted scheduler adds nothing
            await wait_for(lambda: all_ended(db, 6), what="the caught-up cycle")

    rows = await db.fetch("SELECT job, cycle, status FROM job_runs ORDER BY cycle, job")
    assert [(r["job"], r["cycle"], r["status"]) for r in rows] == [
        ("homenet", "2025-03-10T05:00:00Z", "succeeded"),
        ("dealer_com", "2025-03-10T06:00:00Z", "succeeded"),
        ("url_shortening", "2025-03-10T06:00:00Z", "succeeded"),
        ("homenet", "2025-03-15T05:00:00Z", "succeeded"),
        ("dealer_com", "2025-03-15T06:00:00Z", "succeeded"),
        ("url_shortening", "2025-03-15T06:00:00Z", "succeeded"),
    ]


async def test_two_schedulers_and_two_workers_start_each_run_once(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, nc: NatsClient, subjects: Subjects
) -> None:
    source = FakeSource()
    dealers = [f"dealer-{i:02d}" for i in range(20)]
    async with source.serve(), runtime_for(fast(settings)) as rt1, runtime_for(fast(settings)) as rt2:
        for dealer in dealers:
            await insert_dealer(db, dealer, ALL, source.url)
        one, two = Scheduler(rt1), Scheduler(rt2)
        async with job_worker(rt1), job_worker(rt2):
            for _ in range(3):
                await asyncio.gather(one.tick(), two.tick(), Scheduler(rt1).tick())
            await wait_for(lambda: all_ended(db, 80), what="every run to end")

    assert Counter((s.dealer_id, s.job) for s in source.seen) == {(d, j.name): 1 for d in dealers for j in JOBS}
    assert await db.fetchval("SELECT count(*) FROM job_runs WHERE status = 'succeeded'") == 80
    info = await nc.jetstream().stream_info(subjects.stream("OD_JOBS"))
    assert info.state.last_seq == 80  # each request stored once, whoever published it
    assert info.state.messages == 0  # and acked


async def test_manual_runs_and_od_jobs(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    source = FakeSource()
    async with source.serve(), runtime_for(fast(settings)) as rt:
        await insert_dealer(db, "m", ["homenet", "scrape"], source.url)
        with pytest.raises(LookupError, match="no dealer 'nope'"):
            await run_now(rt, "nope", "homenet")
        with pytest.raises(LookupError, match="has no job 'dealer_com'"):
            await run_now(rt, "m", "dealer_com")
        source.will("m", "homenet", Answer(delay_s=0.5))
        first = await run_now(rt, "m", "homenet")
        with pytest.raises(RunInProgress) as busy:
            await run_now(rt, "m", "homenet")
        assert busy.value.run_id == first.run_id
        # A manual run does not wait for prerequisites (homenet has not run yet).
        scrape = await run_now(rt, "m", "scrape")
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 2), what="the manual runs")
        history = await store.history(rt.pool, dealer_id="m")
        assert {(r.job, r.status) for r in history} == {("homenet", "succeeded"), ("scrape", "succeeded")}
        assert scrape.cycle.startswith("manual-") and scrape.scheduled_for is None
        assert [r.job for r in await store.history(rt.pool, job="scrape")] == ["scrape"]
        assert await store.history(rt.pool, status="failed") == []
        assert len(await store.history(rt.pool, limit=1)) == 1

        # The same through `od jobs …`.
        await od_jobs(rt, "status", "--dealer", "m", "--platform", "scrape")
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 2 and out[1].split()[2:5] == ["m", "scrape", "succeeded"]
        await od_jobs(rt, "status", "--status", "succeeded", "--json")
        assert sorted(json.loads(line)["job"] for line in capsys.readouterr().out.splitlines()) == ["homenet", "scrape"]
        await od_jobs(rt, "graph", "--dealer", "m")
        graph = capsys.readouterr().out
        assert graph.startswith("dealer m (platforms: homenet, scrape)")
        assert [line.split()[:2] for line in graph.splitlines()[2:]] == [
            ["homenet", "-"],
            ["scrape", "homenet"],
            ["url_shortening", "scrape"],
        ]
        await od_jobs(rt, "run", "--dealer", "m", "--job", "homenet")
        assert capsys.readouterr().out.startswith("queued m.homenet.manual-")
        with pytest.raises(SystemExit, match="od jobs run: run m.homenet.manual-.* is already queued or running"):
            await od_jobs(rt, "run", "--dealer", "m", "--job", "homenet")
        with pytest.raises(SystemExit, match="--status must be one of"):
            await od_jobs(rt, "status", "--status", "done")


async def od_jobs(rt: Runtime, *argv: str) -> int:
    return await commands.jobs(build_parser().parse_args(["jobs", *argv]), rt)


async def test_old_history_is_cleaned_up(db: asyncpg.Pool) -> None:
    async def add(run: str, status: str, ended_days_ago: float | None) -> None:
        await db.execute(
            """INSERT INTO job_runs (run_id, dealer_id, job, cycle, status, queued_at, ended_at)
               VALUES ($1, 'x', 'homenet', $1, $2, now() - interval '60 days',
                       now() - make_interval(days => $3::int))""",
            run,
            status,
            ended_days_ago,
        )

    await add("old-ok", "succeeded", 40)
    await add("old-blocked", "blocked", 31)
    await add("recent", "failed", 1)
    await add("still-running", "running", None)
    assert await store.cleanup(db, retention_days=30) == 2
    assert {r["run_id"] for r in await db.fetch("SELECT run_id FROM job_runs")} == {"recent", "still-running"}


async def test_a_cyclic_graph_is_refused_at_start(settings: Settings, js_streams: StreamsFile) -> None:
    cyclic = [
        JobType("homenet", ("url_shortening",), "0 * * * *", 0, "homenet"),
        JobType("url_shortening", ("homenet",), "0 * * * *", 1, None),
    ]
    async with runtime_for(settings) as rt:
        with pytest.raises(GraphError, match="cycle: homenet → url_shortening → homenet"):
            Scheduler(rt, cyclic)
        with pytest.raises(GraphError, match="cycle"):
            JobRunner(rt, {}, table=cyclic)


async def test_a_request_lost_from_the_work_queue_is_published_again(
    settings: Settings, js_streams: StreamsFile, db: asyncpg.Pool, nc: NatsClient, subjects: Subjects
) -> None:
    """A server that crashed before its fsync can lose a request the run's row says is queued:
    the scheduler publishes it again; a request still on the queue is left alone."""
    source = FakeSource()
    js = nc.jetstream()
    stream = subjects.stream("OD_JOBS")
    # A crash that loses a request loses its duplicate-detection entry too; deleting the message
    # does not, so the test shortens the window and lets it pass before the scheduler looks.
    config = (await js.stream_info(stream)).config
    config.duplicate_window = 0.2
    await js.update_stream(config)
    async with source.serve(), runtime_for(fast(settings)) as rt:
        for dealer in ("lost", "kept"):
            await insert_dealer(db, dealer, ["dealer_com"], source.url)
        scheduler = Scheduler(rt)
        assert (await scheduler.tick()).published == 4  # dealer_com and url_shortening each
        lost = await js.get_last_msg(stream, subjects.jobs("lost", "dealer_com"))
        await js.delete_msg(stream, lost.seq)
        await db.execute("UPDATE job_runs SET published_at = now() - interval '1 hour'")
        await asyncio.sleep(0.3)  # past the duplicate window

        await scheduler.tick()
        info = await js.stream_info(stream)
        assert info.state.messages == 4  # the lost one again, the others once
        again = await js.get_last_msg(stream, subjects.jobs("lost", "dealer_com"))
        assert again.data == lost.data
        async with job_worker(rt):
            await wait_for(lambda: all_ended(db, 4), what="every run to end")
    assert {r["status"] for r in (await runs(db)).values()} == {"succeeded"}
    assert Counter((s.dealer_id, s.job) for s in source.seen) == {
        (d, j): 1 for d in ("lost", "kept") for j in ("dealer_com", "url_shortening")
    }
