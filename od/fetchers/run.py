"""One pull of one dealer from one source, end to end: load the dealer's configuration, run
the source, publish its observations in batches (one per vehicle), keep its rejections, and
publish ``FeedCompleted`` only after a complete full pull.

A failed pull raises the source's ``SourceError`` (transient or permanent, for the scheduler
to classify) after publishing what it observed: observations are facts either way, but
without ``FeedCompleted`` nothing is sold.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from od.events import FeedCompleted, VehicleObserved
from od.fetchers.base import Http, Pull, RunSummary, Source
from od.fetchers.errors import PermanentSourceError, SourceError
from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)

# name on the command line -> (source the events carry, "module:function")
SOURCES: dict[str, tuple[str, str]] = {
    "homenet": ("homenet", "od.fetchers.homenet:pull"),
    "homenet_csv": ("homenet", "od.fetchers.homenet_csv:pull"),
    "dealer_com": ("dealer_com", "od.fetchers.dealer_com:pull"),
    "scrape": ("scrape", "od.fetchers.scrape:pull"),
}
SCRAPING = frozenset({"scrape"})
"""Sources that crawl a dealer's own site, under the per-host rate limit."""


def _resolve(name: str) -> Source:
    module, _, func = SOURCES[name][1].partition(":")
    source: Source = getattr(importlib.import_module(module), func)
    return source


async def load_config(runtime: Runtime, dealer_id: str) -> Mapping[str, Any]:
    row = await runtime.pool.fetchrow("SELECT config, deleted_at FROM dealers WHERE dealer_id = $1", dealer_id)
    if row is None:
        raise PermanentSourceError(dealer_id, "no such dealer (publish a DealerChanged first)")
    if row["deleted_at"] is not None:
        raise PermanentSourceError(dealer_id, "the dealer is deleted")
    config = row["config"]
    decoded = msgspec.json.decode(config) if isinstance(config, str | bytes) else config
    return decoded if isinstance(decoded, Mapping) else {}


async def load_cursor(runtime: Runtime, dealer_id: str, source: str) -> datetime | None:
    cursor: datetime | None = await runtime.pool.fetchval(
        "SELECT updated_since FROM fetch_cursors WHERE dealer_id = $1 AND source = $2", dealer_id, source
    )
    return cursor


async def save_cursor(runtime: Runtime, pull: Pull, cursor: datetime) -> None:
    await runtime.pool.execute(
        """INSERT INTO fetch_cursors (dealer_id, source, updated_since, run_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (dealer_id, source) DO UPDATE
           SET updated_since = EXCLUDED.updated_since, run_id = EXCLUDED.run_id, updated_at = now()""",
        pull.dealer_id,
        pull.source,
        cursor,
        pull.run_id,
    )


class _Publishing:
    """Observations out in batches, one per vehicle; rejections into ``rejected_vehicles``.

    A batch's acks are awaited while the next batch is being normalized (one batch in flight),
    so fetching and publishing overlap."""

    YIELD_EVERY = 64
    """Observations between two yields to the event loop, so the batch in flight progresses."""

    def __init__(self, runtime: Runtime, pull: Pull) -> None:
        self.runtime = runtime
        self.pull = pull
        self.keys: dict[str, None] = {}
        self.batch: list[VehicleObserved] = []
        self.in_flight: asyncio.Task[int] | None = None

    async def add(self, observation: VehicleObserved) -> None:
        if observation.key in self.keys:
            self.pull.summary.duplicates += 1
            return
        self.keys[observation.key] = None
        self.batch.append(observation)
        if len(self.batch) >= self.runtime.settings.fetch_batch:
            await self._send()
        elif len(self.batch) % self.YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def _send(self) -> None:
        """Wait for the batch in flight, then put the current one in flight."""
        if self.in_flight is not None:
            in_flight, self.in_flight = self.in_flight, None
            self.pull.summary.published += await in_flight
        if self.batch:
            self.in_flight = asyncio.create_task(self.runtime.publisher.publish_all(self.batch))
            self.batch = []

    async def flush(self) -> None:
        await self._send()
        await self._send()
        if self.pull.rejections:
            rows = [
                (self.pull.dealer_id, self.pull.source, self.pull.run_id, rejection.field, rejection.reason, _json(raw))
                for rejection, raw in self.pull.rejections
            ]
            self.pull.rejections.clear()
            await self.runtime.pool.executemany(
                """INSERT INTO rejected_vehicles (dealer_id, source, run_id, field, reason, raw)
                   VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
                rows,
            )


def _json(raw: Mapping[str, object]) -> str:
    return msgspec.json.encode(raw, enc_hook=str).decode()


async def run_fetch(
    runtime: Runtime, dealer_id: str, source: str, *, full: bool = True, location: str | None = None
) -> RunSummary:
    """Pull ``dealer_id``'s inventory from ``source`` (a name of ``SOURCES``) and publish it.
    ``full=False`` asks for an incremental pull where the source supports one (HomeNet);
    ``location`` is where a file source reads from (a CSV path or URL)."""
    if source not in SOURCES:
        raise PermanentSourceError(dealer_id, f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    event_source = SOURCES[source][0]
    started = time.perf_counter()
    summary = RunSummary(dealer_id=dealer_id, source=source, run_id=uuid.uuid4().hex, full=full)
    settings = runtime.settings
    config = await load_config(runtime, dealer_id)
    updated_since = None if full else await load_cursor(runtime, dealer_id, event_source)
    rate = settings.scrape_rate_per_s if source in SCRAPING else None
    async with Http(settings, summary, rate_per_s=rate) as http:
        pull = Pull(
            dealer_id=dealer_id,
            source=event_source,
            run_id=summary.run_id,
            config=config,
            settings=settings,
            http=http,
            summary=summary,
            full=full,
            updated_since=updated_since,
            location=location,
        )
        out = _Publishing(runtime, pull)
        try:
            async for observation in _resolve(source)(pull):
                await out.add(observation)
            if summary.found and not out.keys:
                # A format change, not an empty lot: completing would sell every vehicle.
                top = max(summary.reasons, key=summary.reasons.__getitem__, default="?")
                raise PermanentSourceError(dealer_id, f"all {summary.found} records were rejected ({top})")
        except SourceError as exc:
            summary.error = str(exc)
            raise
        finally:
            await out.flush()
            summary.full = pull.full
            summary.duration_s = round(time.perf_counter() - started, 3)
            if summary.error:
                log.warning("fetch.failed", **msgspec.structs.asdict(summary))
    if pull.full:
        completed = FeedCompleted(
            event_id=f"{summary.run_id}-completed",
            occurred_at=pull.occurred_at,
            dealer_id=dealer_id,
            source=event_source,
            run_id=summary.run_id,
            keys=list(out.keys),
        )
        await runtime.publisher.publish(completed)
        summary.complete = True
    if pull.new_cursor is not None:
        await save_cursor(runtime, pull, pull.new_cursor)
    summary.duration_s = round(time.perf_counter() - started, 3)
    log.info("fetch.done", **msgspec.structs.asdict(summary))
    return summary
