"""What every source module shares: the run summary, the ``Pull`` a source runs in, and HTTP
with timeouts, per-host limits, bounded retries of transient failures and status codes
classified into ``SourceError``s.

A source module exposes ``async def pull(p: Pull) -> AsyncIterator[VehicleObserved]``: it
reads its source, maps each record to the contract's field names and yields what
``p.observe`` makes of it (rejections are counted and kept by the ``Pull``). It returns
normally only when it read the whole inventory; anything less raises a ``SourceError`` whose
reason says what went wrong. ``od.fetchers.run`` publishes and decides on ``FeedCompleted``.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from od.config import Settings
from od.events import VehicleObserved
from od.fetchers.errors import PermanentSourceError, SourceError, TransientSourceError
from od.normalize import Rejection, observation_from_raw

T = TypeVar("T")

RETRY_AFTER_CAP_S = 10.0
"""A ``Retry-After`` longer than this is not waited out inside a run: the run fails and the
scheduler, which sees ``retry_after`` on the error, comes back later."""


class RunSummary(msgspec.Struct, kw_only=True):
    """What one pull did; printed by ``od fetch`` and kept by the scheduler."""

    dealer_id: str = ""
    source: str = ""
    run_id: str = ""
    full: bool = True
    found: int = 0
    """Records the source listed, duplicates and rejected ones included."""
    published: int = 0
    """Observations the stream stored anew (re-publishes of a retried run are not counted)."""
    rejected: int = 0
    duplicates: int = 0
    """Records dropped because the same vehicle was already seen in this run."""
    pages: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    complete: bool = False
    """A full pull that read the whole inventory: only then is ``FeedCompleted`` published."""
    error: str | None = None
    reasons: dict[str, int] = {}
    """Rejections (``field: reason``) and skipped pages, counted."""

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    body: bytes
    headers: CIMultiDictProxy[str]
    charset: str | None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def text(self) -> str:
        """The body decoded by its declared charset, else UTF-8, else Windows-1252 (which old
        dealer sites still serve undeclared)."""
        for encoding in (self.charset, "utf-8"):
            if encoding:
                try:
                    return self.body.decode(encoding)
                except (UnicodeDecodeError, LookupError):
                    continue
        return self.body.decode("cp1252", errors="replace")

    def json(self) -> Any:
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError as exc:
            raise TransientSourceError(self.host, f"garbled answer from {_path(self.url)}: not JSON ({exc})") from None


def _page(page: Page) -> Page:
    return page


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def status_error(host: str, status: int, what: str, retry_after: float | None = None) -> SourceError:
    """The error an HTTP status means for a pull."""
    if status == 429:
        wait = f", retry after {retry_after:g}s" if retry_after is not None else ""
        return TransientSourceError(host, f"HTTP 429 Too Many Requests for {what}{wait}", retry_after)
    if status >= 500:
        return TransientSourceError(host, f"HTTP {status} for {what}", retry_after)
    if status in (401, 403):
        return PermanentSourceError(host, f"HTTP {status} for {what}: access refused (credentials or blocking)")
    return PermanentSourceError(host, f"HTTP {status} for {what}")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientSourceError) and (exc.retry_after is None or exc.retry_after <= RETRY_AFTER_CAP_S)


class _Backoff:
    """Wait ``Retry-After`` when the server said so, else exponential with jitter."""

    def __init__(self) -> None:
        self._exponential = wait_exponential_jitter(initial=0.2, max=5.0, jitter=0.2)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientSourceError) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP_S)
        return float(self._exponential(state))


class Http:
    """One run's HTTP client. Each request has a total timeout; per host at most
    ``scrape_concurrency`` requests are in flight and at most ``rate_per_s`` start each second
    (fewer where ``slow_down`` says);
    transient failures are retried a bounded number of times; every failure surfaces as a
    ``SourceError`` naming the host and what failed. Successful pages and their bytes are
    counted into the run's summary."""

    def __init__(self, settings: Settings, summary: RunSummary, *, rate_per_s: float | None = None) -> None:
        self.settings = settings
        self.summary = summary
        self.concurrency = max(1, settings.scrape_concurrency)
        self.rate_per_s = rate_per_s
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, AsyncLimiter] = {}

    async def __aenter__(self) -> Http:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.fetch_timeout_s, connect=min(10.0, self.settings.fetch_timeout_s)
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            headers={"User-Agent": self.settings.fetch_user_agent},
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.concurrency),
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    def retrying(self) -> AsyncRetrying:
        """Bounded retries of transient failures, for callers that wrap several steps."""
        return AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(max(1, self.settings.fetch_attempts)),
            wait=_Backoff(),
            reraise=True,
        )

    def slow_down(self, host: str, interval_s: float) -> None:
        """Start at most one request every ``interval_s`` on ``host`` (a robots.txt
        ``Crawl-delay``) when that is stricter than ``rate_per_s``."""
        if interval_s <= 0 or (self.rate_per_s and self.rate_per_s * interval_s <= 1):
            return
        self._limiters[host] = AsyncLimiter(1, interval_s)

    async def get(self, url: str, *, accept: Collection[int] = ()) -> Page:
        return await self.fetch(_page, "GET", url, accept=accept)

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        retry: bool = True,
    ) -> Page:
        return await self.fetch(_page, method, url, json=json, data=data, headers=headers, accept=accept, retry=retry)

    async def fetch(
        self,
        parse: Callable[[Page], T],
        method: str,
        url: str,
        *,
        json: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        retry: bool = True,
    ) -> T:
        """One request, retried on transient failures, and its answer parsed by ``parse``
        (inside the retry, so a garbled answer is fetched again). ``accept`` lists non-2xx
        statuses the caller handles itself (e.g. 404 for a sold vehicle's page)."""
        if not retry:
            return parse(await self._once(method, url, json, data, headers, accept))
        async for attempt in self.retrying():
            with attempt:
                return parse(await self._once(method, url, json, data, headers, accept))
        raise AssertionError("unreachable")

    async def _once(
        self,
        method: str,
        url: str,
        json: object,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        accept: Collection[int],
    ) -> Page:
        assert self._session is not None, "use `async with Http(...)`"
        host = urlsplit(url).netloc
        what = f"{method} {_path(url)}"
        slot = self._slots.setdefault(host, asyncio.Semaphore(self.concurrency))
        async with slot:
            limiter = self._limiters.get(host)
            if limiter is None and self.rate_per_s:
                limiter = self._limiters[host] = AsyncLimiter(self.rate_per_s, 1.0)
            if limiter is not None:
                await limiter.acquire()
            try:
                async with self._session.request(method, url, json=json, data=data, headers=headers) as resp:
                    body = await resp.read()
                    page = Page(str(resp.url), resp.status, body, resp.headers, resp.charset)
            except TimeoutError:
                raise TransientSourceError(
                    host, f"timed out after {self.settings.fetch_timeout_s:g}s: {what}"
                ) from None
            except aiohttp.ClientPayloadError:
                raise TransientSourceError(host, f"truncated answer to {what}: the body ended early") from None
            except aiohttp.InvalidURL:
                raise PermanentSourceError(host or url, f"not a valid URL: {url}") from None
            except aiohttp.ClientConnectorError as exc:
                raise TransientSourceError(host, f"cannot connect for {what}: {exc.os_error.strerror or exc}") from None
            except aiohttp.ClientError as exc:
                raise TransientSourceError(host, f"{type(exc).__name__} during {what}: {exc}") from None
        self.summary.bytes += len(body)
        if not (200 <= page.status < 300 or page.status in accept):
            raise status_error(host, page.status, what, retry_after_seconds(page.headers.get("Retry-After")))
        self.summary.pages += 1
        return page


@dataclass
class Pull:
    """One pull of one dealer from one source: what a source module gets."""

    dealer_id: str
    source: str
    """The source the observations carry (``homenet`` for both HomeNet transports)."""
    run_id: str
    config: Mapping[str, Any]
    """The dealer's ``config`` (homenet / dealer_com / scrape sections)."""
    settings: Settings
    http: Http
    summary: RunSummary
    full: bool = True
    """A full pull (read everything) as opposed to an incremental one; a source may turn an
    incremental pull into a full one (no cursor yet)."""
    updated_since: datetime | None = None
    location: str | None = None
    """Where to read from when the command line says (a CSV path or URL)."""
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    new_cursor: datetime | None = None
    """Set by an incremental-capable source after a successful pull; stored by the runner."""
    rejections: list[tuple[Rejection, Mapping[str, object]]] = field(default_factory=list)

    def section(self, name: str, *keys: str) -> Mapping[str, Any]:
        """The dealer's ``config[name]``, which must carry ``keys``: else the run cannot start."""
        section = self.config.get(name)
        if not isinstance(section, Mapping) or any(not section.get(key) for key in keys):
            wanted = ", ".join(f"{name}.{key}" for key in keys) or name
            raise PermanentSourceError(self.dealer_id, f"dealer has no {wanted} configured")
        return section

    def observe(
        self, raw: Mapping[str, object], *, base_url: str | None = None, mileage_unit: str = "mi"
    ) -> VehicleObserved | None:
        """Normalize one record; a rejection is counted and kept, and gives None."""
        self.summary.found += 1
        result = observation_from_raw(
            raw,
            dealer_id=self.dealer_id,
            source=self.source,
            occurred_at=self.occurred_at,
            run_id=self.run_id,
            base_url=base_url,
            mileage_unit=mileage_unit,
        )
        if isinstance(result, Rejection):
            self.summary.rejected += 1
            self.summary.count(f"{result.field}: {result.reason}")
            self.rejections.append((result, raw))
            return None
        return result


Source = Callable[[Pull], AsyncIterator[VehicleObserved]]
