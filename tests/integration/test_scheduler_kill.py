"""A real `od worker --only jobs` killed with SIGKILL in the middle of a job: the request is
redelivered, the next worker takes the stale run over, and exactly one run completes."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import asyncpg
from nats.aio.client import Client as NatsClient

from od import streams
from od.config import Settings
from od.events import Subjects
from od.scheduling.runner import CONSUMER, STREAM
from od.scheduling.scheduler import run_now
from tests.integration.scheduler_support import (
    EXECUTORS_ENV,
    Answer,
    FakeSource,
    fast,
    insert_dealer,
    job_worker,
    runtime_for,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
ACK_WAIT = "2s"


async def short_ack_wait(nc: NatsClient, subjects: Subjects) -> None:
    """This namespace's job consumer with a short ack_wait, so redelivery comes in seconds."""
    spec = streams.load()
    for stream in spec.streams:
        for consumer in stream.consumers:
            if stream.name == STREAM and consumer.durable_name == CONSUMER:
                consumer.ack_wait = ACK_WAIT
    await streams.apply(nc, spec, subjects)


async def test_a_worker_killed_mid_job_leads_to_exactly_one_completed_run(
    settings: Settings, db: asyncpg.Pool, nc: NatsClient, subjects: Subjects, js_streams: streams.StreamsFile
) -> None:
    await short_ack_wait(nc, subjects)
    source = FakeSource()
    source.will("k", "homenet", Answer(delay_s=120))  # the first attempt hangs until its worker dies
    env = settings.child_env({"OD_JOBS_EXECUTORS": EXECUTORS_ENV, "OD_LOG_LEVEL": "info", "OD_LOG_FORMAT": "json"})
    async with source.serve(), runtime_for(fast(settings)) as rt:
        await insert_dealer(db, "k", ["homenet"], source.url)
        with tempfile.TemporaryFile() as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "od.cli", "worker", "--only", "jobs", cwd=ROOT, env=env, stdout=log, stderr=log
            )
            try:
                ref = await run_now(rt, "k", "homenet")

                async def started() -> bool:
                    return bool(source.requests("k", "homenet"))

                await wait_for(started, what="the job to start")
                running = await db.fetchrow(
                    "SELECT status, attempts, claimed_by FROM job_runs WHERE run_id = $1", ref.run_id
                )
                assert (running["status"], running["attempts"]) == ("running", 1)
                proc.kill()  # SIGKILL: no cleanup, no ack, no last heartbeat
                assert await proc.wait() == -9
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                log.seek(0)
                output = log.read().decode(errors="replace")
            assert "Traceback" not in output, output

        async with job_worker(rt) as runner:
            done = await wait_for(
                lambda: db.fetchrow(
                    "SELECT * FROM job_runs WHERE run_id = $1 AND status NOT IN ('queued', 'running')", ref.run_id
                ),
                within=30,
                what="the redelivered run to end",
            )
            assert done["claimed_by"] == runner.worker_id != running["claimed_by"]

    assert (done["status"], done["attempts"], done["vehicles_found"]) == ("succeeded", 2, 3)
    assert await db.fetchval("SELECT count(*) FROM job_runs") == 1
    answered = [s for s in source.requests("k", "homenet") if s.status is not None]
    assert len(source.requests("k", "homenet")) == 2 and len(answered) == 1
    info = await nc.jetstream().stream_info(subjects.stream(STREAM))
    assert info.state.messages == 0
