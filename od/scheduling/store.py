"""The scheduler's Postgres store: ``job_runs`` (creation, resolution, claims, history) and the
shared circuit-breaker state. Only SQL here, always parameterized; the decisions are made by
the pure ``od.scheduling.graph`` and ``od.scheduling.breaker``.

Exactly-once execution rests on this table, not on delivery: a worker runs a job only after
claiming its row (``waiting``/``queued`` → ``running``, or a ``running`` row whose heartbeat is
stale because its worker died), and only the claiming worker may end it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from od.scheduling import breaker
from od.scheduling.breaker import Breaker
from od.scheduling.graph import TERMINAL, DealerGraph, Decision, PrereqRun, Waiting, dealer_graph
from od.scheduling.schedules import run_id

Conn = asyncpg.Connection | asyncpg.Pool | PoolConnectionProxy


def _lock_conflicts() -> AsyncRetrying:
    """Two schedulers, or a scheduler and a worker, may write overlapping runs at once; the
    database then aborts one statement of a deadlock, which is simply tried again."""
    return AsyncRetrying(
        retry=retry_if_exception_type((asyncpg.DeadlockDetectedError, asyncpg.SerializationError)),
        wait=wait_random(0.01, 0.1),
        stop=stop_after_attempt(5),
        reraise=True,
    )


def _json_object(value: Any) -> dict[str, Any]:
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else {}


# --- dealers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealerJobs:
    """What the scheduler needs of a dealer: its graph and its schedule overrides."""

    dealer_id: str
    platforms: tuple[str, ...]
    schedules: Mapping[str, Any]

    @property
    def graph(self) -> DealerGraph:
        return dealer_graph(self.platforms)


async def load_dealers(conn: Conn, dealer_ids: Sequence[str] | None = None) -> dict[str, DealerJobs]:
    rows = await conn.fetch(
        """SELECT dealer_id, platforms, config -> 'schedules' AS schedules FROM dealers
           WHERE deleted_at IS NULL AND ($1::text[] IS NULL OR dealer_id = ANY($1::text[]))
           ORDER BY dealer_id""",
        None if dealer_ids is None else list(dealer_ids),
    )
    return {
        r["dealer_id"]: DealerJobs(r["dealer_id"], tuple(r["platforms"]), _json_object(r["schedules"])) for r in rows
    }


# --- creating and resolving scheduled runs ---------------------------------------------------


class Candidate(NamedTuple):
    dealer_id: str
    job: str
    cycle: str
    scheduled_for: datetime

    @property
    def run_id(self) -> str:
        return run_id(self.dealer_id, self.job, self.cycle)


class Created(NamedTuple):
    created: list[Candidate]
    """New rows, ``waiting`` for their prerequisites."""
    existing: list[Candidate]
    """Already there (another scheduler, or before a restart): nothing to do."""
    busy: list[Candidate]
    """Not created: an earlier run of the same dealer's job is still queued or running; the
    cycle is created once it ends (so a backlog is caught up once, not once per tick)."""


async def create_runs(conn: Conn, candidates: Sequence[Candidate]) -> Created:
    """Create the runs of due cycles, once, whoever asks. A new cycle supersedes an older run of
    the same job that is still waiting (it is blocked, naming the new cycle)."""
    if not candidates:
        return Created([], [], [])
    candidates = sorted(candidates, key=lambda c: c.run_id)
    async for attempt in _lock_conflicts():
        with attempt:
            rows = await conn.fetch(_CREATE_RUNS, *_columns(candidates))
    outcome = {r["run_id"]: ("created" if r["created"] else "busy" if r["busy"] else "existing") for r in rows}
    result = Created([], [], [])
    for c in candidates:
        getattr(result, outcome[c.run_id]).append(c)
    return result


def _columns(candidates: Sequence[Candidate]) -> tuple[list[Any], ...]:
    return (
        [c.run_id for c in candidates],
        [c.dealer_id for c in candidates],
        [c.job for c in candidates],
        [c.cycle for c in candidates],
        [c.scheduled_for for c in candidates],
    )


_CREATE_RUNS = """WITH c AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
                   AS c(run_id, dealer_id, job, cycle, scheduled_for)),
           busy AS (
               SELECT c.run_id FROM c WHERE EXISTS (
                   SELECT 1 FROM job_runs r WHERE r.dealer_id = c.dealer_id AND r.job = c.job
                   AND r.status IN ('queued', 'running') AND r.run_id <> c.run_id)),
           ins AS (
               INSERT INTO job_runs (run_id, dealer_id, job, cycle, scheduled_for, status)
               SELECT run_id, dealer_id, job, cycle, scheduled_for, 'waiting' FROM c
               WHERE run_id NOT IN (SELECT run_id FROM busy)
               ON CONFLICT DO NOTHING
               RETURNING run_id, dealer_id, job, cycle, scheduled_for),
           superseded AS (
               UPDATE job_runs r SET status = 'blocked', ended_at = now(),
                   error = 'superseded by cycle ' || ins.cycle || ' before its prerequisites finished'
               FROM ins WHERE r.dealer_id = ins.dealer_id AND r.job = ins.job
               AND r.status = 'waiting' AND r.scheduled_for < ins.scheduled_for
               RETURNING r.run_id)
           SELECT c.run_id,
                  c.run_id IN (SELECT run_id FROM ins) AS created,
                  c.run_id IN (SELECT run_id FROM busy) AS busy
           FROM c"""


class RunRef(NamedTuple):
    """A run as its request names it."""

    run_id: str
    dealer_id: str
    job: str
    cycle: str
    scheduled_for: datetime | None


class Pending(NamedTuple):
    """A dealer's waiting runs, ready for ``graph.resolve``."""

    dealer_id: str
    refs: dict[str, RunRef]
    waiting: list[Waiting]
    orphans: list[str]
    """Waiting runs of jobs no longer in the dealer's graph (platform removed, dealer deleted)."""


async def pending(conn: Conn, graphs: Mapping[str, DealerGraph]) -> list[Pending]:
    """The waiting runs of these dealers, each with its prerequisites' runs in its cycle: the
    same dealer's latest scheduled run of the prerequisite job at or before its own tick."""
    if not graphs:
        return []
    triples = [(d, job, p) for d, g in graphs.items() for job, prereqs in g.prereqs.items() for p in prereqs]
    rows = await conn.fetch(
        """SELECT w.run_id, w.dealer_id, w.job, w.cycle, w.scheduled_for,
                  p.prereq, r.run_id AS prereq_run, r.status AS prereq_status
           FROM job_runs w
           LEFT JOIN unnest($2::text[], $3::text[], $4::text[]) AS p(dealer_id, job, prereq)
               ON p.dealer_id = w.dealer_id AND p.job = w.job
           LEFT JOIN LATERAL (
               SELECT r.run_id, r.status FROM job_runs r
               WHERE r.dealer_id = w.dealer_id AND r.job = p.prereq AND r.scheduled_for <= w.scheduled_for
               ORDER BY r.scheduled_for DESC LIMIT 1) r ON true
           WHERE w.status = 'waiting' AND w.dealer_id = ANY($1::text[])""",
        list(graphs),
        [t[0] for t in triples],
        [t[1] for t in triples],
        [t[2] for t in triples],
    )
    refs: dict[str, dict[str, RunRef]] = {}
    prereqs: dict[str, dict[str, PrereqRun | None]] = {}
    for r in rows:
        dealer, rid, job = r["dealer_id"], r["run_id"], r["job"]
        refs.setdefault(dealer, {})[rid] = RunRef(rid, dealer, job, r["cycle"], r["scheduled_for"])
        graph = graphs[dealer]
        found = prereqs.setdefault(rid, dict.fromkeys(graph.prereqs.get(job, ()), None))
        if r["prereq"] is not None and r["prereq_run"] is not None:
            found[r["prereq"]] = PrereqRun(r["prereq_run"], r["prereq_status"])
    out = []
    for dealer, runs in refs.items():
        graph = graphs[dealer]
        waiting = [Waiting(rid, ref.job, prereqs[rid]) for rid, ref in runs.items() if ref.job in graph]
        orphans = [rid for rid, ref in runs.items() if ref.job not in graph]
        out.append(Pending(dealer, runs, waiting, orphans))
    return out


async def settle(conn: Conn, decisions: Mapping[str, Decision]) -> None:
    """Write what resolution decided: ``queued`` (its request is published) or ``blocked``.
    Only still-waiting rows change (a worker may already have claimed a published one)."""
    if decisions:
        await finish(conn, "", [], decisions)


async def dealers_waiting(conn: Conn, *, older_than_s: float) -> list[str]:
    """Dealers with runs waiting longer than this (the scheduler re-resolves them, in case the
    worker that ended their prerequisite died before it did)."""
    rows = await conn.fetch(
        """SELECT DISTINCT dealer_id FROM job_runs
           WHERE status = 'waiting' AND queued_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    return [r["dealer_id"] for r in rows]


async def long_queued(conn: Conn, *, older_than_s: float, limit: int) -> list[RunRef]:
    """Runs whose request went onto the work queue longer ago than this and that no worker
    has claimed, oldest first."""
    rows = await conn.fetch(
        """SELECT run_id, dealer_id, job, cycle, scheduled_for FROM job_runs
           WHERE status = 'queued' AND published_at < now() - make_interval(secs => $1)
           ORDER BY published_at LIMIT $2""",
        older_than_s,
        limit,
    )
    return [RunRef(*row) for row in rows]


async def open_run(conn: Conn, dealer_id: str, job: str) -> str | None:
    """The dealer's queued or running run of this job, if any."""
    value: str | None = await conn.fetchval(
        "SELECT run_id FROM job_runs WHERE dealer_id = $1 AND job = $2 AND status IN ('queued', 'running') LIMIT 1",
        dealer_id,
        job,
    )
    return value


async def create_manual(conn: Conn, ref: RunRef) -> None:
    """A manual run's row, after its request is published (the worker may have made it already)."""
    await conn.execute(
        """INSERT INTO job_runs (run_id, dealer_id, job, cycle, status, published_at)
           VALUES ($1, $2, $3, $4, 'queued', now()) ON CONFLICT DO NOTHING""",
        ref.run_id,
        ref.dealer_id,
        ref.job,
        ref.cycle,
    )


# --- claims and results (the worker) ---------------------------------------------------------


class Claim(NamedTuple):
    outcome: Literal["claimed", "done", "busy"]
    status: str
    attempts: int
    platforms: tuple[str, ...] | None
    """``None``: the dealer is unknown or deleted."""
    config: dict[str, Any]
    queued_at: datetime | None
    published_at: datetime | None


async def claim(conn: Conn, refs: Sequence[RunRef], worker: str, *, stale_after_s: float) -> list[Claim]:
    """Take each run for this worker, unless it is over (``done``) or another live worker holds
    it (``busy``: its heartbeat is fresher than ``stale_after_s``; also a second copy of a request
    in the same batch). A run whose row is missing (its request was published just before a
    crash) is created here. ``attempts`` already counts the attempt about to start, so one cut
    short by a crash stays counted."""
    first: dict[str, int] = {}
    for i, ref in enumerate(refs):
        first.setdefault(ref.run_id, i)
    unique = [refs[i] for i in sorted(first.values())]
    rows = await conn.fetch(
        _CLAIM,
        [r.run_id for r in unique],
        [r.dealer_id for r in unique],
        [r.job for r in unique],
        [r.cycle for r in unique],
        [r.scheduled_for for r in unique],
        worker,
        stale_after_s,
    )
    by_run = {row["run_id"]: _claim(row) for row in rows}
    busy = Claim("busy", "running", 0, None, {}, None, None)
    return [by_run[ref.run_id] if first[ref.run_id] == i else busy for i, ref in enumerate(refs)]


_CLAIM = """WITH c AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS c(run_id, dealer_id, job, cycle, scheduled_for)),
    up AS (
        INSERT INTO job_runs AS j (run_id, dealer_id, job, cycle, scheduled_for, status, attempts,
                                   started_at, claimed_by, heartbeat_at, published_at)
        SELECT run_id, dealer_id, job, cycle, scheduled_for, 'running', 1, now(), $6, now(), now()
        FROM c ORDER BY run_id
        ON CONFLICT (run_id) DO UPDATE SET status = 'running', attempts = j.attempts + 1,
            started_at = now(), claimed_by = EXCLUDED.claimed_by, heartbeat_at = now(), error = NULL
        WHERE j.status IN ('waiting', 'queued')
           OR (j.status = 'running' AND j.heartbeat_at < now() - make_interval(secs => $7))
        RETURNING j.run_id, j.attempts, j.queued_at, j.published_at)
    SELECT c.run_id, up.attempts, up.queued_at, up.published_at, before.status AS current,
           d.platforms, d.config, d.deleted_at IS NULL AS live
    FROM c
    LEFT JOIN up USING (run_id)
    LEFT JOIN job_runs before ON before.run_id = c.run_id
    LEFT JOIN dealers d ON d.dealer_id = c.dealer_id"""


def _claim(row: asyncpg.Record) -> Claim:
    platforms = tuple(row["platforms"]) if row["platforms"] is not None and row["live"] else None
    config = _json_object(row["config"])
    if row["attempts"] is not None:
        return Claim("claimed", "running", row["attempts"], platforms, config, row["queued_at"], row["published_at"])
    current = row["current"] or "running"
    outcome: Literal["done", "busy"] = "done" if current in TERMINAL else "busy"
    return Claim(outcome, current, 0, platforms, config, None, None)


async def heartbeat(conn: Conn, runs: Sequence[str], worker: str) -> set[str]:
    """Renew this worker's claims; returns the runs it still holds (another worker may have
    taken one over)."""
    rows = await conn.fetch(
        """UPDATE job_runs SET heartbeat_at = now()
           WHERE run_id = ANY($1::text[]) AND claimed_by = $2 AND status = 'running'
           RETURNING run_id""",
        sorted(runs),
        worker,
    )
    return {row["run_id"] for row in rows}


class Outcome(msgspec.Struct, kw_only=True):
    status: Literal["succeeded", "failed", "skipped"]
    attempts: int
    host: str | None = None
    found: int | None = None
    published: int | None = None
    rejected: int | None = None
    error: str | None = None
    timings: dict[str, float] = {}


async def finish(
    conn: Conn, worker: str, ends: Sequence[tuple[str, Outcome]], dependants: Mapping[str, Decision]
) -> set[str]:
    """End these runs and, in the same statement, settle what their ends decided for the runs
    waiting on them (whose requests are already published). Returns the runs ended: one this
    worker no longer holds (another took it over) is left alone."""
    settle_ids, statuses, errors = [], [], []
    for rid, decision in sorted(dependants.items()):
        settle_ids.append(rid)
        statuses.append("queued" if decision == "ready" else "blocked")
        errors.append(None if decision == "ready" else getattr(decision, "reason", None))
    columns: list[list[Any]] = [[] for _ in range(9)]
    for rid, o in sorted(ends, key=lambda end: end[0]):
        values = (rid, o.status, o.attempts, o.host, o.found, o.published, o.rejected, o.error, json.dumps(o.timings))
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    async for attempt in _lock_conflicts():
        with attempt:
            rows = await conn.fetch(_END, *columns, worker, settle_ids, statuses, errors)
    return {row["run_id"] for row in rows}


# One statement: runs' ends and what they mean for the runs waiting on them commit together.
_END = """WITH e AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::int[], $7::int[],
                             $8::text[], $9::jsonb[])
            AS e(run_id, status, attempts, host, found, published, rejected, error, timings)),
    ended AS (
        UPDATE job_runs j SET status = e.status, ended_at = now(), attempts = e.attempts, host = e.host,
            vehicles_found = e.found, vehicles_published = e.published, vehicles_rejected = e.rejected,
            error = e.error, timings = e.timings, heartbeat_at = NULL
        FROM e WHERE j.run_id = e.run_id AND j.claimed_by = $10 AND j.status = 'running'
        RETURNING j.run_id),
    settled AS (
        UPDATE job_runs r SET status = d.status, error = d.error,
            published_at = CASE WHEN d.status = 'queued' THEN now() END,
            ended_at = CASE WHEN d.status = 'blocked' THEN now() END
        FROM unnest($11::text[], $12::text[], $13::text[]) AS d(run_id, status, error)
        WHERE r.run_id = d.run_id AND r.status = 'waiting'
        RETURNING 1)
    SELECT run_id FROM ended"""


# --- history ---------------------------------------------------------------------------------


class JobRun(msgspec.Struct, kw_only=True):
    """One run as `od jobs status` and ``GET /v1/jobs/status`` show it."""

    run_id: str
    dealer_id: str
    job: str
    cycle: str
    status: str
    attempts: int
    queued_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    vehicles_found: int | None = None
    vehicles_published: int | None = None
    vehicles_rejected: int | None = None
    error: str | None = None
    host: str | None = None
    timings: dict[str, float] = {}


async def history(
    conn: Conn,
    *,
    dealer_id: str | None = None,
    job: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[JobRun]:
    """Latest runs first, filtered by dealer, job type (platform) and status."""
    rows = await conn.fetch(
        """SELECT run_id, dealer_id, job, cycle, status, attempts, queued_at, started_at, ended_at,
                  vehicles_found, vehicles_published, vehicles_rejected, error, host, timings
           FROM job_runs
           WHERE ($1::text IS NULL OR dealer_id = $1) AND ($2::text IS NULL OR job = $2)
             AND ($3::text IS NULL OR status = $3)
           ORDER BY queued_at DESC, run_id DESC LIMIT $4""",
        dealer_id,
        job,
        status,
        limit,
    )
    return [JobRun(**{**dict(r), "timings": _json_object(r["timings"])}) for r in rows]


async def cleanup(conn: Conn, *, retention_days: float) -> int:
    """Delete ended runs older than the retention period; returns how many."""
    status = await conn.execute(
        """DELETE FROM job_runs WHERE status = ANY($1::text[])
           AND ended_at < now() - make_interval(secs => $2)""",
        sorted(TERMINAL),
        retention_days * 86400.0,
    )
    return int(status.rsplit(" ", 1)[-1])


# --- circuit breakers ------------------------------------------------------------------------

_SELECT_BREAKER = """SELECT host, state, failures, extract(epoch FROM opened_at)::float8 AS opened_at,
    extract(epoch FROM trial_until)::float8 AS trial_until, extract(epoch FROM now())::float8 AS now
    FROM circuit_breakers"""


def _breaker(row: asyncpg.Record | None) -> Breaker:
    if row is None:
        return breaker.CLOSED
    return Breaker(row["state"], row["failures"], row["opened_at"], row["trial_until"])


async def breakers(conn: Conn) -> dict[str, Breaker]:
    """Every host that ever failed, with its state."""
    return {r["host"]: _breaker(r) for r in await conn.fetch(_SELECT_BREAKER)}


async def breaker_admit(pool: asyncpg.Pool, host: str, policy: breaker.Policy) -> tuple[bool, Breaker]:
    """``breaker.admit`` on the shared state, under a row lock, by the database's clock."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_SELECT_BREAKER + " WHERE host = $1 FOR UPDATE", host)
        if row is None:
            return True, breaker.CLOSED
        current = _breaker(row)
        admitted, new = breaker.admit(current, row["now"], policy)
        if new != current:
            await _save_breaker(conn, host, new)
        return admitted, new


async def breaker_failed(pool: asyncpg.Pool, host: str, policy: breaker.Policy) -> Breaker:
    """Count a transient failure of the host (opening its circuit at the threshold)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO circuit_breakers (host, state, failures) VALUES ($1, 'closed', 0) ON CONFLICT DO NOTHING",
            host,
        )
        row = await conn.fetchrow(_SELECT_BREAKER + " WHERE host = $1 FOR UPDATE", host)
        new = breaker.failed(_breaker(row), row["now"] if row else 0.0, policy)
        await _save_breaker(conn, host, new)
        return new


async def breaker_succeeded(conn: Conn, host: str) -> None:
    await conn.execute(
        """UPDATE circuit_breakers SET state = 'closed', failures = 0, opened_at = NULL, trial_until = NULL,
               updated_at = now()
           WHERE host = $1 AND (state <> 'closed' OR failures <> 0)""",
        host,
    )


async def _save_breaker(conn: Conn, host: str, b: Breaker) -> None:
    await conn.execute(
        """UPDATE circuit_breakers SET state = $2, failures = $3, opened_at = to_timestamp($4),
               trial_until = to_timestamp($5), updated_at = now()
           WHERE host = $1""",
        host,
        b.state,
        b.failures,
        b.opened_at,
        b.trial_until,
    )
