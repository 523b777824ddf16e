"""When a dealer's jobs are due: cron expressions in UTC (croniter), the job table's defaults or
the dealer's own from its config ``schedules`` ``{job: cron}``.

A run belongs to a cycle: the tick of its schedule it was started for, the latest tick at or
before now. After downtime only that latest tick is due, so missed runs are caught up once,
not once per missed tick.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from croniter import croniter

from od.scheduling.graph import JobType

_CYCLE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def valid(expr: str) -> bool:
    return isinstance(expr, str) and bool(expr.strip()) and croniter.is_valid(expr)


def schedule_for(job: JobType, overrides: Mapping[str, object]) -> str:
    """The dealer's cron for ``job``: its override when that is a valid expression, else the default."""
    expr = overrides.get(job.name)
    return expr if isinstance(expr, str) and valid(expr) else job.schedule


def override_errors(overrides: Mapping[str, object], jobs: Mapping[str, JobType]) -> list[str]:
    """What is wrong with a dealer's ``schedules`` (each such entry falls back to the default)."""
    errors = []
    for job, expr in overrides.items():
        if job not in jobs:
            errors.append(f"schedules.{job}: no such job")
        elif not isinstance(expr, str) or not valid(expr):
            errors.append(f"schedules.{job}: {expr!r} is not a cron expression")
    return errors


def latest_tick(expr: str, now: datetime) -> datetime:
    """The latest tick of ``expr`` at or before ``now`` (UTC, whole seconds)."""
    base = now.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    tick: datetime = croniter(expr, base).get_prev(datetime)
    return tick.astimezone(UTC)


def next_tick(expr: str, now: datetime) -> datetime:
    tick: datetime = croniter(expr, now.astimezone(UTC)).get_next(datetime)
    return tick.astimezone(UTC)


class Ticks:
    """``latest_tick`` for one scheduler pass, computed once per distinct expression (croniter
    is slow and most dealers share the defaults)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._cache: dict[str, datetime] = {}

    def latest(self, expr: str) -> datetime:
        tick = self._cache.get(expr)
        if tick is None:
            tick = self._cache[expr] = latest_tick(expr, self.now)
        return tick


def cycle_id(tick: datetime) -> str:
    """A scheduled cycle's name: its tick, RFC 3339 UTC (sorts as time)."""
    return tick.astimezone(UTC).strftime(_CYCLE_FORMAT)


def manual_cycle(now: datetime) -> str:
    """A manual run's cycle: unique, and never mistaken for a scheduled one."""
    return f"manual-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def run_id(dealer_id: str, job: str, cycle: str) -> str:
    """Deterministic, so every copy of a request (two schedulers, a restart) names one run; also
    the ``Nats-Msg-Id`` of the request."""
    return f"{dealer_id}.{job}.{cycle}"
