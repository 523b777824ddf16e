"""One full cycle of the sample dealers' jobs, now, through the scheduler's own functions.

The scheduler creates scheduled runs only when a job's cron tick comes, once per tick: a
demo started twice in an hour would pull nothing the second time. So the demo queues each
dealer's jobs as manual runs (``scheduler.run_now``: the same request, job worker, fetchers
and ``job_runs`` rows), in the dealer's graph order: a job starts when its prerequisites
succeeded, and a job that reads the projection (link shortening) first waits until it has
settled. Dealers do not wait for each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from od import streams
from od.runtime import Runtime
from od.scheduling import scheduler, store
from od.scheduling.graph import TERMINAL, dealer_graph

POLL_S = 0.1


@dataclass(frozen=True)
class JobOutcome:
    dealer_id: str
    job: str
    status: str
    found: int | None = None
    published: int | None = None
    error: str | None = None


async def wait_run(rt: Runtime, run_id: str, within: float) -> JobOutcome:
    """Poll ``job_runs`` until the run has ended."""
    async with asyncio.timeout(within):
        while True:
            row = await rt.pool.fetchrow(
                "SELECT dealer_id, job, status, vehicles_found, vehicles_published, error FROM job_runs"
                " WHERE run_id = $1",
                run_id,
            )
            if row is not None and row["status"] in TERMINAL:
                return JobOutcome(
                    row["dealer_id"],
                    row["job"],
                    row["status"],
                    row["vehicles_found"],
                    row["vehicles_published"],
                    row["error"],
                )
            await asyncio.sleep(POLL_S)


async def backlog(rt: Runtime) -> int:
    """Work not yet done: messages pending or unacknowledged on every durable consumer of
    ``streams.yaml``, changes not yet relayed from the outbox, job runs not yet ended."""
    js = rt.nc.jetstream()
    total = 0
    for stream in streams.load().streams:
        for consumer in stream.consumers:
            info = await js.consumer_info(rt.subjects.stream(stream.name), consumer.durable_name)
            total += (info.num_pending or 0) + (info.num_ack_pending or 0)
    total += await rt.pool.fetchval("SELECT count(*) FROM vehicle_changes_outbox")
    total += await rt.pool.fetchval("SELECT count(*) FROM job_runs WHERE status IN ('waiting', 'queued', 'running')")
    return int(total)


async def settle(rt: Runtime, within: float, *, quiet_s: float = 0.5) -> None:
    """Wait until :func:`backlog` stays 0 for ``quiet_s`` (a handler may publish more)."""
    async with asyncio.timeout(within):
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            if await backlog(rt) == 0:
                quiet_since = quiet_since or loop.time()
                if loop.time() - quiet_since >= quiet_s:
                    return
            else:
                quiet_since = None
            await asyncio.sleep(POLL_S)


class _SharedSettle:
    """:func:`settle` for many waiting jobs at once: one poller instead of one per job (hundreds
    of dealers would otherwise crowd the pool the workers need). A caller returns after a settle
    that *started after it asked* has finished, so what its prerequisites published is in it."""

    def __init__(self, rt: Runtime, within: float) -> None:
        self.rt, self.within = rt, within
        self.lock = asyncio.Lock()
        self.started = self.finished = 0

    async def __call__(self) -> None:
        asked = self.started
        async with self.lock:
            if self.finished > asked:
                return
            self.started += 1
            await settle(self.rt, self.within)
            self.finished = self.started


async def _queue(rt: Runtime, dealer_id: str, job: str) -> str:
    """A manual run of the job, or the one already open (an earlier demo stopped mid-job)."""
    try:
        return (await scheduler.run_now(rt, dealer_id, job)).run_id
    except scheduler.RunInProgress as busy:
        return busy.run_id


async def run_cycle(
    rt: Runtime,
    dealer_ids: Sequence[str],
    *,
    within: float = 600.0,
    on_end: Callable[[JobOutcome], None] | None = None,
) -> list[JobOutcome]:
    """Run every job of every dealer once, in graph order; the outcomes in the order they ended."""
    dealers = await store.load_dealers(rt.pool, list(dealer_ids))
    outcomes: list[JobOutcome] = []
    settled = _SharedSettle(rt, within)

    def ended(outcome: JobOutcome) -> JobOutcome:
        outcomes.append(outcome)
        if on_end is not None:
            on_end(outcome)
        return outcome

    async def one(
        dealer_id: str, job: str, prereqs: list[asyncio.Task[JobOutcome]], reads_projection: bool
    ) -> JobOutcome:
        before = [await t for t in prereqs]
        failed = [b.job for b in before if b.status != "succeeded"]
        if failed:
            return ended(JobOutcome(dealer_id, job, "blocked", error=f"{', '.join(failed)} did not succeed"))
        if reads_projection:
            await settled()
        return ended(await wait_run(rt, await _queue(rt, dealer_id, job), within))

    tasks: list[asyncio.Task[JobOutcome]] = []
    for dealer in dealers.values():
        graph = dealer_graph(dealer.platforms)
        by_job: dict[str, asyncio.Task[JobOutcome]] = {}
        for job in graph.jobs:  # prerequisites first, so their tasks exist
            prereqs = [by_job[p] for p in graph.prereqs[job.name]]
            by_job[job.name] = asyncio.create_task(one(dealer.dealer_id, job.name, prereqs, job.platform is None))
        tasks.extend(by_job.values())
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return outcomes


def total_jobs(platforms_by_dealer: Sequence[Sequence[str]]) -> int:
    return sum(len(dealer_graph(p).jobs) for p in platforms_by_dealer)
