"""Job executors: job type → the async callable that runs it, and the external host it talks to.

The one place where the scheduler meets the fetchers (``od.fetchers.run.run_fetch``) and the
enrichment workers (``od.enrichment.shortlinks.shorten_dealer``); both are imported lazily,
so a worker loads only what it runs. ``OD_JOBS_EXECUTORS`` (``job=module:attr,…``) replaces
executors, for the demo's and the tests' fake sources.

An executor returns a :class:`JobResult`, or raises ``TransientSourceError`` (retried with
backoff, counted against its host's circuit) or ``PermanentSourceError`` (fails at once).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from od.config import Settings
from od.fetchers.errors import PermanentSourceError
from od.runtime import Runtime


class JobResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    found: int | None = None
    published: int | None = None
    rejected: int | None = None


RunJob = Callable[[Runtime, str, str], Awaitable[JobResult]]
"""``(runtime, dealer_id, run_id) -> JobResult``."""
HostOf = Callable[[Settings, Mapping[str, Any]], str | None]
"""``(settings, dealer config) -> host``: what the job's circuit breaker and rate limit key on."""


@dataclass(frozen=True)
class Executor:
    run: RunJob
    host: HostOf


def url_host(url: object) -> str | None:
    """``host[:port]`` of a URL (credentials dropped), lower-cased."""
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def config_url_host(section: str, key: str) -> HostOf:
    """The host of the URL at ``config[section][key]`` (e.g. ``dealer_com.site_url``)."""

    def host(settings: Settings, config: Mapping[str, Any]) -> str | None:
        value = config.get(section)
        return url_host(value.get(key)) if isinstance(value, Mapping) else None

    return host


def _fetch(source: str) -> RunJob:
    async def run(runtime: Runtime, dealer_id: str, run_id: str) -> JobResult:
        from od.fetchers.run import run_fetch

        summary = await run_fetch(runtime, dealer_id, source, full=True)
        if not summary.complete:
            raise PermanentSourceError(source, summary.error or "the pull did not read the whole inventory")
        return JobResult(found=summary.found, published=summary.published, rejected=summary.rejected)

    return run


async def _shorten(runtime: Runtime, dealer_id: str, run_id: str) -> JobResult:
    from od.enrichment.consumer import Permanent
    from od.enrichment.shortlinks import shorten_dealer

    try:
        counts = await shorten_dealer(runtime, dealer_id, run_id)
    except Permanent as exc:
        raise PermanentSourceError(url_host(runtime.settings.rebrandly_url) or "shortener", str(exc)) from None
    return JobResult(
        found=counts.get("vehicles", 0),
        published=counts.get("created", 0) + counts.get("reused", 0),
        rejected=counts.get("failed", 0) + counts.get("page_missing", 0),
    )


DEFAULT: dict[str, Executor] = {
    "homenet": Executor(_fetch("homenet"), lambda settings, config: url_host(settings.homenet_url) or "homenet"),
    "dealer_com": Executor(_fetch("dealer_com"), config_url_host("dealer_com", "site_url")),
    "scrape": Executor(_fetch("scrape"), config_url_host("scrape", "inventory_url")),
    "url_shortening": Executor(_shorten, lambda settings, config: url_host(settings.rebrandly_url)),
}


def registry(settings: Settings) -> dict[str, Executor]:
    """The executors, with ``OD_JOBS_EXECUTORS`` overrides applied."""
    executors = dict(DEFAULT)
    for item in filter(None, (part.strip() for part in settings.jobs_executors.split(","))):
        job, sep, target = item.partition("=")
        module, colon, attr = target.partition(":")
        if not sep or not colon:
            raise SystemExit(f"OD_JOBS_EXECUTORS: {item!r} is not job=module:attr")
        executor = getattr(importlib.import_module(module), attr)
        if not isinstance(executor, Executor):
            raise SystemExit(f"OD_JOBS_EXECUTORS: {target} is not an Executor")
        executors[job.strip()] = executor
    return executors
