"""Scheduling and dispatching every dealer's four jobs (HomeNet → Dealer.com, HomeNet → scrape →
short links) against instant fake executors, with the worker's concurrency limits measured by the
executors themselves (not assumed), and the graph order checked run by run.

Baseline: the same number of requests through a bare JetStream work queue (publish, pull, ack;
no database, no graph), on the same servers.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import msgspec
from nats.errors import TimeoutError as NatsTimeout

from od.bench.context import BenchContext, Figure
from od.config import Settings
from od.runtime import Runtime
from od.scheduling.executors import Executor, JobResult
from od.scheduling.graph import JOBS, TERMINAL, dealer_graph
from od.scheduling.runner import CONSUMER, STREAM, JobRunner
from od.scheduling.scheduler import Scheduler

PLATFORMS = ["homenet", "dealer_com", "scrape"]
TIMEOUT_S = 600.0


@dataclass
class Tracker:
    """What the fake executors saw: concurrency per dealer and overall, and the graph order."""

    running: Counter[str] = field(default_factory=Counter)
    peak_dealers: int = 0
    peak_per_dealer: int = 0
    done: dict[tuple[str, str], float] = field(default_factory=dict)
    started: dict[tuple[str, str], float] = field(default_factory=dict)

    def executor(self, job: str) -> Executor:
        async def run(runtime: Runtime, dealer_id: str, run_id: str) -> JobResult:
            self.running[dealer_id] += 1
            self.peak_dealers = max(self.peak_dealers, len(self.running))
            self.peak_per_dealer = max(self.peak_per_dealer, self.running[dealer_id])
            self.started[(dealer_id, job)] = time.perf_counter()
            await asyncio.sleep(0)  # instant, but a real await: other jobs may interleave here
            self.running[dealer_id] -= 1
            if not self.running[dealer_id]:
                del self.running[dealer_id]
            self.done[(dealer_id, job)] = time.perf_counter()
            return JobResult(found=60, published=60, rejected=0)

        # A HomeNet and a short-link provider shared by all, and each dealer's own web site.
        shared = job in ("homenet", "url_shortening")
        return Executor(run, lambda settings, config: f"{job}.bench.test" if shared else None)

    def order_violations(self) -> int:
        graph = dealer_graph(PLATFORMS)
        bad = 0
        for (dealer, job), started in self.started.items():
            for prereq in graph.prereqs[job]:
                ended = self.done.get((dealer, prereq))
                bad += ended is None or ended > started
        return bad


async def run(ctx: BenchContext) -> list[Figure]:
    dealers = ctx.size(10_000, 300)
    jobs = dealers * len(dealer_graph(PLATFORMS).jobs)
    settings = (await ctx.settings()).replace(jobs_host_rate_per_s=100_000.0, jobs_max_dealers=128)
    baseline = await _bare_work_queue(ctx, jobs)

    runtime = await Runtime.open(settings, name="od-bench-scheduler", pool_size=16)
    try:
        await runtime.pool.execute(
            """INSERT INTO dealers (dealer_id, name, platforms, config, event_id, event_at)
               SELECT 'dealer-' || i, 'Dealer ' || i, $2::text[], '{}'::jsonb, 'e' || i, now()
               FROM generate_series(1, $1) AS i""",
            dealers,
            PLATFORMS,
        )
        tracker = Tracker()
        runner = JobRunner(runtime, {job.name: tracker.executor(job.name) for job in JOBS})
        stop = asyncio.Event()
        started = time.perf_counter()
        report = await Scheduler(runtime).tick()
        pass_s = time.perf_counter() - started
        worker = asyncio.create_task(runner.run(stop))
        try:
            await _until_all_ended(runtime, jobs, worker)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        total_s = time.perf_counter() - started
        rows = await runtime.pool.fetch("SELECT status, count(*) AS n FROM job_runs GROUP BY status")
        statuses = {r["status"]: r["n"] for r in rows}
    finally:
        await runtime.close()

    assert report.created == jobs, report
    assert statuses == {"succeeded": jobs}, statuses
    assert tracker.order_violations() == 0
    assert tracker.peak_dealers <= settings.jobs_max_dealers
    assert tracker.peak_per_dealer <= settings.jobs_max_per_dealer
    return [
        Figure(f"scheduler.{dealers}_dealers_x4_jobs", total_s, "s", target="<= 60 s on 2 cores"),
        Figure("scheduler.throughput", jobs / total_s, "jobs/s", baseline, target="bare work queue for scale"),
        Figure("scheduler.pass", pass_s, "s", target=f"create {jobs} runs, queue {dealers} roots"),
        Figure(
            "scheduler.peak_dealers_at_once", tracker.peak_dealers, "dealers", target=f"<= {settings.jobs_max_dealers}"
        ),
        Figure(
            "scheduler.peak_jobs_per_dealer",
            tracker.peak_per_dealer,
            "jobs",
            target=f"<= {settings.jobs_max_per_dealer}",
        ),
        Figure("scheduler.order_violations", tracker.order_violations(), "runs", target="0"),
    ]


async def _until_all_ended(runtime: Runtime, jobs: int, worker: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        ended = await runtime.pool.fetchval(
            "SELECT count(*) FROM job_runs WHERE status = ANY($1::text[])", sorted(TERMINAL)
        )
        if ended >= jobs:
            return
        if worker.done():
            worker.result()
            raise RuntimeError("the job worker stopped early")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ended} of {jobs} runs ended after {TIMEOUT_S:g}s")
        await asyncio.sleep(0.25)


async def _bare_work_queue(ctx: BenchContext, n: int) -> float:
    """Requests per second through the same work-queue stream with nothing but publish, pull, ack."""
    settings: Settings = await ctx.settings()
    runtime = await Runtime.open(settings, name="od-bench-baseline", pool_size=1)
    try:
        payload = msgspec.json.encode({"run_id": "x" * 40, "dealer_id": "dealer-1", "job": "homenet"})
        subjects = runtime.subjects
        started = time.perf_counter()
        await runtime.publisher.publish_many(
            (subjects.jobs(f"dealer-{i}", "homenet"), payload, f"baseline-{i}") for i in range(n)
        )
        sub = await runtime.nc.jetstream().pull_subscribe_bind(durable=CONSUMER, stream=subjects.stream(STREAM))
        acked = 0
        while acked < n:
            try:
                msgs = await sub.fetch(256, timeout=1.0)
            except NatsTimeout:
                continue
            for msg in msgs:
                await msg.ack()
            acked += len(msgs)
        return n / (time.perf_counter() - started)
    finally:
        await runtime.close()
