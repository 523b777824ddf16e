"""Short links for vehicle pages (``od worker --only shortlinks``), and the scheduler's
``url_shortening`` executor, :func:`shorten_dealer`.

A vehicle's link points at its ``dealer_url`` with the dealer's UTM parameters. Before a
link is made, the page must answer (HEAD, else GET, redirects followed; 404/410 means no
link). A destination that already has a link, for this vehicle or any other, reuses it, so
redelivery and re-runs never create a second one. ``vehicle_links`` keeps every
(vehicle, destination) with its attempts; ``vehicles.short_url`` shows the current one, and
is written only here, only while the vehicle still has the ``dealer_url`` that was linked.
A sold vehicle keeps its link.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from od import bus
from od.config import Settings
from od.enrichment.consumer import MessageWorker, Permanent, RetryLater, add_counts
from od.enrichment.http import (
    TRANSIENT_HTTP_ERRORS,
    client_session,
    gate_for,
    is_transient_status,
    parse_retry_after,
)
from od.enrichment.utm import append_utm, utm_params
from od.events import AnyEvent, VehicleChanged
from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)

CONSUMER = "shortlinks"


def wants_link(event: VehicleChanged) -> bool:
    """Whether a change may need a (new) link: a vehicle that is available with a page, and
    is new, back, or has a new page (an update naming no field counts as one)."""
    if event.vehicle.status != "available" or not event.vehicle.dealer_url:
        return False
    if event.change == "updated":
        return not event.changed_fields or "dealer_url" in event.changed_fields
    return event.change in ("created", "relisted")


@dataclass(frozen=True)
class LinkTask:
    vehicle_id: str
    dealer_url: str
    target_url: str
    """``dealer_url`` with the dealer's UTM parameters: the link's destination."""


class ShortLink(msgspec.Struct):
    short_url: str
    provider_id: str | None


class _RebrandlyLink(msgspec.Struct):
    id: str
    shortUrl: str


class _RebrandlyError(msgspec.Struct):
    message: str = ""
    code: str = ""


class Rebrandly:
    """A Rebrandly-compatible API: ``POST /v1/links`` with the key in the ``apikey`` header."""

    name = "rebrandly"

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._url = settings.rebrandly_url.rstrip("/")
        self._key = settings.rebrandly_api_key or ""
        self._domain = settings.rebrandly_domain
        self._session = session
        self._gate = gate_for(f"rebrandly {self._url}", settings.rebrandly_rate_per_s)
        self._default_retry_after = settings.rebrandly_retry_after_s

    async def create(self, destination: str) -> ShortLink:
        await self._gate.wait()
        payload = {"destination": destination, "domain": {"fullName": self._domain}}
        try:
            async with self._session.post(f"{self._url}/v1/links", json=payload, headers={"apikey": self._key}) as r:
                status, body, retry_after = r.status, await r.read(), r.headers.get("Retry-After")
        except TRANSIENT_HTTP_ERRORS as exc:
            raise RetryLater(f"rebrandly unreachable: {exc!r}") from exc
        if status in (200, 201):
            try:
                link = msgspec.json.decode(body, type=_RebrandlyLink)
            except msgspec.DecodeError as exc:
                raise RetryLater(f"rebrandly answered {status} with an unreadable link: {exc}") from exc
            short = link.shortUrl if "://" in link.shortUrl else f"https://{link.shortUrl}"
            return ShortLink(short, link.id)
        if status == 429:
            delay = parse_retry_after(retry_after, default=self._default_retry_after)
            self._gate.pause(delay)
            raise RetryLater(f"rebrandly rate limit (429), retry in {delay:.0f}s", delay=delay, counts=False)
        message = _error_message(body)
        if is_transient_status(status):
            raise RetryLater(f"rebrandly answered {status}: {message}")
        raise Permanent(f"rebrandly refused the link ({status}): {message}")


def _error_message(body: bytes) -> str:
    try:
        error = msgspec.json.decode(body, type=_RebrandlyError)
    except msgspec.DecodeError:
        return " ".join(body[:200].decode("utf-8", "replace").split())
    return " ".join(p for p in (error.code, error.message) if p)


async def page_answers(session: aiohttp.ClientSession, url: str, rate_per_host: float) -> bool:
    """Whether the dealer's page exists: ``False`` on 404/410. HEAD first; anything but a
    success is asked again with GET (many sites refuse or mishandle HEAD). A bot wall (403)
    still answers: the page is there for people."""
    gate = gate_for(f"site {urlsplit(url).hostname}", rate_per_host)
    try:
        await gate.wait()
        async with session.head(url, allow_redirects=True) as r:
            status = r.status
        if status >= 400:
            await gate.wait()
            async with session.get(url, allow_redirects=True) as r:
                status = r.status
    except TRANSIENT_HTTP_ERRORS as exc:
        raise RetryLater(f"dealer page {url} unreachable: {exc!r}") from exc
    if status in (404, 410):
        return False
    if is_transient_status(status):
        raise RetryLater(f"dealer page {url} answered {status}")
    return True


async def dealer_utm(runtime: Runtime, dealer_id: str) -> dict[str, str]:
    raw = await runtime.pool.fetchval("SELECT config->'utm' FROM dealers WHERE dealer_id = $1", dealer_id)
    config = msgspec.json.decode(raw) if raw else {}
    return utm_params(config) if isinstance(config, dict) else {}


class ShortLinker:
    """Makes or reuses the link of one (vehicle, destination) and shows it on the vehicle."""

    def __init__(self, runtime: Runtime, session: aiohttp.ClientSession) -> None:
        self._pool = runtime.pool
        self._session = session
        self._provider = Rebrandly(runtime.settings, session)
        self._site_rate = runtime.settings.scrape_rate_per_s

    async def task(self, runtime: Runtime, dealer_id: str, vehicle_id: str, dealer_url: str) -> LinkTask:
        return LinkTask(vehicle_id, dealer_url, append_utm(dealer_url, await dealer_utm(runtime, dealer_id)))

    async def link(self, task: LinkTask) -> str:
        """Returns the outcome: ``cached``, ``reused``, ``created`` or ``page_missing``."""
        current = await self._pool.fetchrow(
            "SELECT status, short_url FROM vehicle_links WHERE vehicle_id = $1 AND target_key = md5($2)",
            task.vehicle_id,
            task.target_url,
        )
        if current is not None and current["status"] == "linked":
            await self._show(task, current["short_url"])
            return "cached"
        await self._pool.execute(
            """INSERT INTO vehicle_links
                   (vehicle_id, target_url, dealer_url, provider, status, attempts, last_attempt_at)
               VALUES ($1, $2, $3, $4, 'pending', 1, now())
               ON CONFLICT (vehicle_id, target_key) DO UPDATE
               SET attempts = vehicle_links.attempts + 1, last_attempt_at = now(), updated_at = now()""",
            task.vehicle_id,
            task.target_url,
            task.dealer_url,
            self._provider.name,
        )
        try:
            link, outcome = await self._make(task)
        except Exception as exc:
            await self._set(task, "pending", error=str(exc) or type(exc).__name__)
            raise
        if link is None:
            await self._set(task, "page_missing", error="dealer page answered 404/410")
            await self._show(task, None)
            return outcome
        await self._set(task, "linked", link=link)
        await self._show(task, link.short_url)
        return outcome

    async def _make(self, task: LinkTask) -> tuple[ShortLink | None, str]:
        if not await page_answers(self._session, task.dealer_url, self._site_rate):
            return None, "page_missing"
        existing = await self._pool.fetchrow(
            """SELECT short_url, provider_id FROM vehicle_links
               WHERE target_key = md5($1) AND target_url = $1 AND status = 'linked' LIMIT 1""",
            task.target_url,
        )
        if existing is not None:
            return ShortLink(existing["short_url"], existing["provider_id"]), "reused"
        return await self._provider.create(task.target_url), "created"

    async def failed(self, task: LinkTask, reason: str) -> None:
        """The task was given up (dead-lettered): say so on its row."""
        await self._set(task, "failed", error=reason)

    async def _set(
        self, task: LinkTask, status: str, *, link: ShortLink | None = None, error: str | None = None
    ) -> None:
        await self._pool.execute(
            """UPDATE vehicle_links
               SET status = $3, short_url = coalesce($4, short_url), provider_id = coalesce($5, provider_id),
                   last_error = $6, updated_at = now()
               WHERE vehicle_id = $1 AND target_key = md5($2) AND status <> 'linked'""",
            task.vehicle_id,
            task.target_url,
            status,
            link.short_url if link else None,
            link.provider_id if link else None,
            error,
        )

    async def _show(self, task: LinkTask, short_url: str | None) -> None:
        # short_url is a public field: updated_at moves with it, so feeds' ETags and sitemaps'
        # lastmod notice the change.
        await self._pool.execute(
            """UPDATE vehicles SET short_url = $3, updated_at = greatest(updated_at, now())
               WHERE vehicle_id = $1 AND dealer_url = $2 AND short_url IS DISTINCT FROM $3""",
            task.vehicle_id,
            task.dealer_url,
            short_url,
        )


def _retry_wait(settings: Settings) -> Callable[[RetryCallState], float]:
    """Within a run: the provider's Retry-After when it gave one, else the usual backoff."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryLater) and exc.delay is not None:
            return exc.delay
        return bus.nak_delay(state.attempt_number, base=settings.enrichment_retry_base_s)

    return wait


def _batch_size(settings: Settings) -> int:
    """Messages per fetch: what the provider's rate lets us finish well within ``ack_wait``."""
    return max(1, min(200, int(settings.rebrandly_rate_per_s * 20)))


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """Worker kind ``shortlinks``: links for ``VehicleChanged`` on ``OD_CHANGES``."""
    settings = runtime.settings
    if not settings.rebrandly_api_key:
        log.warning("shortlinks.disabled", reason="OD_REBRANDLY_API_KEY is not set")
        await stop.wait()
        return
    async with client_session(settings, limit=settings.enrichment_concurrency * 2) as session:
        linker = ShortLinker(runtime, session)

        async def handle(event: AnyEvent, _msg: object) -> None:
            if isinstance(event, VehicleChanged) and wants_link(event):
                assert event.vehicle.dealer_url is not None
                task = await linker.task(runtime, event.dealer_id, event.vehicle_id, event.vehicle.dealer_url)
                worker.counts[f"links_{await linker.link(task)}"] += 1

        async def on_dead_letter(event: AnyEvent, reason: str) -> None:
            if isinstance(event, VehicleChanged) and event.vehicle.dealer_url:
                await linker.failed(
                    await linker.task(runtime, event.dealer_id, event.vehicle_id, event.vehicle.dealer_url), reason
                )

        worker = MessageWorker(
            runtime,
            CONSUMER,
            handle,
            key=lambda e: getattr(e, "vehicle_id", ""),
            on_dead_letter=on_dead_letter,
        )
        stream = runtime.subjects.stream("OD_CHANGES")
        await bus.PullConsumer(runtime.nc, stream, CONSUMER, worker, batch=_batch_size(settings)).run(stop)


async def shorten_dealer(runtime: Runtime, dealer_id: str, run_id: str) -> dict[str, int]:
    """The scheduler's ``url_shortening`` job: link every available vehicle of the dealer that
    has a page but no current link. Returns counts: ``vehicles`` considered, ``todo``, and one
    per outcome (``created``, ``reused``, ``page_missing``, ``failed``)."""
    settings = runtime.settings
    if not settings.rebrandly_api_key:
        raise Permanent("OD_REBRANDLY_API_KEY is not set")
    utm = await dealer_utm(runtime, dealer_id)
    rows = await runtime.pool.fetch(
        """SELECT v.vehicle_id, v.dealer_url FROM vehicles v
           WHERE v.dealer_id = $1 AND v.status = 'available' AND v.dealer_url IS NOT NULL""",
        dealer_id,
    )
    linked = {
        (r["vehicle_id"], r["target_url"])
        for r in await runtime.pool.fetch(
            "SELECT vehicle_id, target_url FROM vehicle_links WHERE vehicle_id = ANY($1::text[]) AND status = 'linked'",
            [r["vehicle_id"] for r in rows],
        )
    }
    candidates = (LinkTask(r["vehicle_id"], r["dealer_url"], append_utm(r["dealer_url"], utm)) for r in rows)
    tasks = [t for t in candidates if (t.vehicle_id, t.target_url) not in linked]
    counts: Counter[str] = Counter(vehicles=len(rows), todo=len(tasks))
    async with client_session(settings, limit=settings.enrichment_concurrency * 2) as session:
        linker = ShortLinker(runtime, session)
        limit = asyncio.Semaphore(settings.enrichment_concurrency)

        async def one(task: LinkTask) -> str:
            async with limit:
                try:
                    async for attempt in AsyncRetrying(
                        retry=retry_if_exception_type(RetryLater),
                        wait=_retry_wait(settings),
                        stop=stop_after_attempt(settings.enrichment_max_attempts),
                        reraise=True,
                    ):
                        with attempt:
                            return await linker.link(task)
                except Exception as exc:
                    log.warning("shortlinks.failed", run_id=run_id, vehicle_id=task.vehicle_id, reason=str(exc))
                await linker.failed(task, "gave up in url_shortening run " + run_id)
                return "failed"

        counts.update(await asyncio.gather(*(one(t) for t in tasks)))
    outcomes = Counter({f"links_{k}": v for k, v in counts.items() if k not in ("vehicles", "todo")})
    await add_counts(runtime.pool, CONSUMER, outcomes)
    log.info("shortlinks.dealer_done", dealer_id=dealer_id, run_id=run_id, **counts)
    return dict(counts)
