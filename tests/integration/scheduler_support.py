"""Shared by the scheduler tests: a fake feed source (a real aiohttp server on 127.0.0.1 that
answers ``GET /{dealer_id}/{job}`` as scripted and records every request), job executors that
call it (also loadable by a worker subprocess through ``OD_JOBS_EXECUTORS``), dealers written
as the projector would, and waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from od.config import Settings
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.runtime import Runtime
from od.scheduling.executors import Executor, JobResult, config_url_host
from od.scheduling.graph import JOBS
from od.scheduling.runner import JobRunner

FAST = {
    "jobs_retry_initial_s": 0.02,
    "jobs_retry_max_s": 2.0,
    "jobs_attempts": 3,
    "jobs_host_rate_per_s": 0.0,
    "jobs_breaker_failures": 100,
}


def fast(settings: Settings, **changes: object) -> Settings:
    return settings.replace(**{**FAST, **changes})


@dataclass
class Answer:
    status: int = 200
    delay_s: float = 0.0
    retry_after: str | None = None
    found: int = 3


@dataclass
class Seen:
    dealer_id: str
    job: str
    run_id: str
    started: float
    ended: float | None = None
    status: int | None = None


@dataclass
class FakeSource:
    """Answers are scripted per (dealer, job) and used in order; then ``default``."""

    default: Answer = field(default_factory=Answer)
    script: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def will(self, dealer_id: str, job: str, *answers: Answer) -> None:
        self.script.setdefault((dealer_id, job), []).extend(answers)

    def requests(self, dealer_id: str | None = None, job: str | None = None) -> list[Seen]:
        return [s for s in self.seen if dealer_id in (None, s.dealer_id) and job in (None, s.job)]

    async def _handle(self, request: web.Request) -> web.Response:
        dealer_id, job = request.match_info["dealer_id"], request.match_info["job"]
        seen = Seen(dealer_id, job, request.query.get("run", ""), time.monotonic())
        self.seen.append(seen)
        queue = self.script.get((dealer_id, job))
        answer = queue.pop(0) if queue else self.default
        await asyncio.sleep(answer.delay_s)
        seen.ended, seen.status = time.monotonic(), answer.status
        headers = {"Retry-After": answer.retry_after} if answer.retry_after is not None else {}
        return web.json_response({"found": answer.found}, status=answer.status, headers=headers)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeSource]:
        app = web.Application()
        app.router.add_get("/{dealer_id}/{job}", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()


def _call_source(job: str) -> Callable[[Runtime, str, str], Awaitable[JobResult]]:
    """An executor that pulls from the fake source named in the dealer's config ``source.url``,
    classifying answers as the real fetchers do."""

    async def run(runtime: Runtime, dealer_id: str, run_id: str) -> JobResult:
        config = json.loads(await runtime.pool.fetchval("SELECT config FROM dealers WHERE dealer_id = $1", dealer_id))
        url = f"{config['source']['url']}/{dealer_id}/{job}"
        host = url.split("/")[2]
        async with aiohttp.ClientSession() as session, session.get(url, params={"run": run_id}) as resp:
            if resp.status == 200:
                found = (await resp.json())["found"]
                return JobResult(found=found, published=found, rejected=0)
            if resp.status == 429 or resp.status >= 500:
                retry_after = resp.headers.get("Retry-After")
                raise TransientSourceError(
                    host, f"HTTP {resp.status} for /{dealer_id}/{job}", float(retry_after) if retry_after else None
                )
            raise PermanentSourceError(host, f"HTTP {resp.status} for /{dealer_id}/{job}: access refused")

    return run


EXECUTORS: dict[str, Executor] = {
    job.name: Executor(_call_source(job.name), config_url_host("source", "url")) for job in JOBS
}
# For a worker subprocess: OD_JOBS_EXECUTORS=homenet=tests.integration.scheduler_support:HOMENET,…
globals().update({name.upper(): executor for name, executor in EXECUTORS.items()})
EXECUTORS_ENV = ",".join(f"{name}={__name__}:{name.upper()}" for name in EXECUTORS)


async def insert_dealer(
    db: asyncpg.Pool, dealer_id: str, platforms: list[str], source_url: str, *, schedules: Mapping[str, str] = {}
) -> None:
    await db.execute(
        """INSERT INTO dealers (dealer_id, name, platforms, config, event_id, event_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, now())""",
        dealer_id,
        f"Dealer {dealer_id}",
        platforms,
        json.dumps({"source": {"url": source_url}, "schedules": dict(schedules)}),
        f"e-{dealer_id}",
    )


async def runs(db: asyncpg.Pool, dealer_id: str | None = None) -> dict[tuple[str, str], asyncpg.Record]:
    """The latest run of each (dealer, job)."""
    rows = await db.fetch(
        "SELECT * FROM job_runs WHERE $1::text IS NULL OR dealer_id = $1 ORDER BY queued_at, run_id", dealer_id
    )
    return {(r["dealer_id"], r["job"]): r for r in rows}


async def wait_for(condition: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.05)


async def all_ended(db: asyncpg.Pool, expected: int) -> bool:
    ended = await db.fetchval(
        "SELECT count(*) FROM job_runs WHERE status IN ('succeeded', 'failed', 'blocked', 'skipped')"
    )
    return bool(ended >= expected)


@contextlib.asynccontextmanager
async def runtime_for(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings, name="od-test-scheduler", pool_size=6)
    try:
        yield runtime
    finally:
        await runtime.close()


@contextlib.asynccontextmanager
async def job_worker(runtime: Runtime, executors: Mapping[str, Executor] = EXECUTORS) -> AsyncIterator[JobRunner]:
    """The ``jobs`` worker kind in the background, stopped (and awaited) on exit."""
    stop = asyncio.Event()
    runner = JobRunner(runtime, executors)
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
