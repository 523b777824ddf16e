"""`od scheduler`: every few seconds, create the runs whose cycle has come and publish those
whose prerequisites are met; hourly, delete old run history. Also manual runs.

Several schedulers may run at once, and one may restart at any time: a run is one row
(``UNIQUE (dealer_id, job, cycle)``) and one request (``Nats-Msg-Id`` = run id), whoever
creates or publishes it first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from od.log import get_logger
from od.runtime import Runtime
from od.scheduling import dispatch, store
from od.scheduling.graph import JOBS, DealerGraph, JobType, check, dealer_graph
from od.scheduling.schedules import Ticks, cycle_id, manual_cycle, override_errors, run_id, schedule_for
from od.scheduling.store import Candidate, RunRef

log = get_logger(__name__)

CLEANUP_EVERY_S = 3600.0
REQUEUE_CHECKS = 100
"""Long-queued runs looked up on the work queue per pass (the oldest: a lost one stays oldest)."""


@dataclass(frozen=True)
class PassReport:
    created: int
    busy: int
    published: int
    blocked: int


class Scheduler:
    def __init__(self, runtime: Runtime, table: Sequence[JobType] = JOBS) -> None:
        self.runtime = runtime
        self.table = tuple(table)
        self.jobs = check(self.table)  # a cycle is refused here, named
        self._ensured: dict[tuple[str, str], str] = {}
        """(dealer, job) → the cycle whose run is known to exist: skipped without a query."""
        self._warned: set[tuple[str, str]] = set()

    @property
    def stale_after_s(self) -> float:
        """Runs waiting longer than this are resolved again by the scheduler."""
        return max(30.0, 2 * self.runtime.settings.scheduler_interval_s)

    def graph(self, platforms: Sequence[str]) -> DealerGraph:
        return dealer_graph(platforms, self.table)

    async def tick(self, now: datetime | None = None) -> PassReport:
        """One pass: create the due runs (only each job's latest tick, so missed ticks are caught
        up once), then resolve the dealers with new runs or long-waiting ones."""
        now = now or datetime.now(UTC)
        pool, publisher = self.runtime.pool, self.runtime.publisher
        dealers = await store.load_dealers(pool)
        ticks = Ticks(now)
        candidates = []
        for d in dealers.values():
            self._warn_overrides(d)
            for job in self.graph(d.platforms).jobs:
                tick = ticks.latest(schedule_for(job, d.schedules))
                cycle = cycle_id(tick)
                if self._ensured.get((d.dealer_id, job.name)) != cycle:
                    candidates.append(Candidate(d.dealer_id, job.name, cycle, tick))
        created = await store.create_runs(pool, candidates)
        for c in (*created.created, *created.existing):
            self._ensured[(c.dealer_id, c.job)] = c.cycle
        dealer_ids = {c.dealer_id for c in created.created}
        dealer_ids.update(await store.dealers_waiting(pool, older_than_s=self.stale_after_s))
        graphs = {i: self.graph(dealers[i].platforms if i in dealers else ()) for i in dealer_ids}
        advanced = await dispatch.advance(pool, publisher, graphs)
        await self._requeue_lost()
        report = PassReport(len(created.created), len(created.busy), len(advanced.ready), len(advanced.blocked))
        if report.created or report.published or report.blocked:
            log.info("scheduler.pass", dealers=len(dealers), **report.__dict__)
        return report

    async def _requeue_lost(self) -> None:
        """Publish again the requests of long-queued runs that are no longer on the work queue.
        A run whose request is still there (in a backlog, or held by a worker) is left alone;
        a second copy of one that did run would be acknowledged without running (run id)."""
        rt = self.runtime
        stale = await store.long_queued(rt.pool, older_than_s=self.stale_after_s, limit=REQUEUE_CHECKS)
        lost = await dispatch.missing(rt.nc.jetstream(), rt.subjects, stale)
        if lost:
            await dispatch.publish(rt.publisher, lost)
            log.warning("scheduler.requeued", runs=[r.run_id for r in lost], reason="request lost from the work queue")

    def _warn_overrides(self, d: store.DealerJobs) -> None:
        for error in override_errors(d.schedules, self.jobs):
            if (d.dealer_id, error) not in self._warned:
                self._warned.add((d.dealer_id, error))
                log.warning("scheduler.bad_schedule", dealer_id=d.dealer_id, error=error, using="the default")


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """The `od scheduler` loop, until ``stop`` is set."""
    scheduler = Scheduler(runtime)
    settings = runtime.settings
    log.info("scheduler.start", interval_s=settings.scheduler_interval_s, jobs=list(scheduler.jobs))
    last_cleanup = 0.0
    while not stop.is_set():
        try:
            await scheduler.tick()
            if time.monotonic() - last_cleanup >= CLEANUP_EVERY_S:
                deleted = await store.cleanup(runtime.pool, retention_days=settings.jobs_retention_days)
                last_cleanup = time.monotonic()
                if deleted:
                    log.info("scheduler.cleanup", deleted=deleted, retention_days=settings.jobs_retention_days)
        except Exception as exc:  # a pass failing (Postgres restarting) is retried next interval
            log.warning("scheduler.pass_failed", error=repr(exc))
        try:
            await asyncio.wait_for(stop.wait(), settings.scheduler_interval_s)
        except TimeoutError:
            pass


class UnknownDealer(LookupError):
    pass


class NotInGraph(LookupError):
    """The dealer's platforms call for no such job."""


class RunInProgress(Exception):
    def __init__(self, run: str) -> None:
        super().__init__(f"run {run} is already queued or running")
        self.run_id = run


async def run_now(runtime: Runtime, dealer_id: str, job: str) -> RunRef:
    """Queue a manual run of one dealer's job, outside its cycle and without prerequisites.
    Raises ``UnknownDealer``, ``NotInGraph`` for a job the dealer does not have, or
    ``RunInProgress`` when that job already has a queued or running run."""
    dealer = (await store.load_dealers(runtime.pool, [dealer_id])).get(dealer_id)
    if dealer is None:
        raise UnknownDealer(f"no dealer {dealer_id!r}")
    graph = dealer_graph(dealer.platforms)
    if job not in graph:
        known = ", ".join(graph.names) or "none"
        raise NotInGraph(f"dealer {dealer_id!r} has no job {job!r} (its jobs: {known})")
    busy = await store.open_run(runtime.pool, dealer_id, job)
    if busy:
        raise RunInProgress(busy)
    cycle = manual_cycle(datetime.now(UTC))
    ref = RunRef(run_id(dealer_id, job, cycle), dealer_id, job, cycle, None)
    await dispatch.publish(runtime.publisher, [ref])
    await store.create_manual(runtime.pool, ref)
    log.info("jobs.manual_run", run_id=ref.run_id)
    return ref
