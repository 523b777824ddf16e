"""HTTP to external providers: one session per worker, and a gate per provider that keeps
to its rate limit and pauses everyone after a 429."""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from aiolimiter import AsyncLimiter

from od.config import Settings
from od.enrichment.consumer import RetryLater


def parse_retry_after(value: str | None, *, default: float, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date);
    ``default`` when absent or unreadable, never negative."""
    if not value or not value.strip():
        return default
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ProviderGate:
    """Paces calls to one provider: at most ``rate`` per second (aiolimiter), and none while
    a 429's Retry-After runs. A caller that would wait longer than ``max_wait`` is told to
    come back later instead of holding its message."""

    def __init__(self, name: str, rate: float, *, max_wait: float = 15.0) -> None:
        self.name = name
        self._limiter = AsyncLimiter(max(rate, 0.001), 1.0)
        self._paused_until = 0.0
        self._max_wait = max_wait

    async def wait(self) -> None:
        pause = self._paused_until - time.monotonic()
        if pause > self._max_wait:
            raise RetryLater(f"{self.name} asked us to wait ({pause:.0f}s left)", delay=pause, counts=False)
        if pause > 0:
            await asyncio.sleep(pause)
        await self._limiter.acquire()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, float], ProviderGate]] = (
    weakref.WeakKeyDictionary()
)


def gate_for(name: str, rate: float) -> ProviderGate:
    """The process's gate for a provider (per event loop: the limiter belongs to one), so the
    worker and the scheduler's executor share one budget."""
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    return gates.setdefault((name, rate), ProviderGate(name, rate))


def client_session(settings: Settings, *, limit: int = 32) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.enrichment_http_timeout_s),
        headers={"User-Agent": settings.fetch_user_agent},
        connector=aiohttp.TCPConnector(limit=limit),
    )


TRANSIENT_HTTP_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)


def is_transient_status(status: int) -> bool:
    return status == 408 or status == 425 or status == 429 or status >= 500
