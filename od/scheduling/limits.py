"""A job worker's limits: dealers at once, jobs per dealer at once, and job attempts started per
second per external host. Per worker process; run more workers for more throughput."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

from aiolimiter import AsyncLimiter


class DealerGate:
    """Admits a job when its dealer already runs fewer than ``per_dealer`` jobs here, or when it
    runs none and fewer than ``max_dealers`` dealers run any."""

    def __init__(self, max_dealers: int, per_dealer: int) -> None:
        self.max_dealers = max(1, max_dealers)
        self.per_dealer = max(1, per_dealer)
        self._running: Counter[str] = Counter()
        self._changed = asyncio.Condition()

    @property
    def capacity(self) -> int:
        return self.max_dealers * self.per_dealer

    def _fits(self, dealer_id: str) -> bool:
        if dealer_id in self._running:
            return self._running[dealer_id] < self.per_dealer
        return len(self._running) < self.max_dealers

    @contextlib.asynccontextmanager
    async def slot(self, dealer_id: str) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(dealer_id))
            self._running[dealer_id] += 1
        try:
            yield
        finally:
            async with self._changed:
                self._running[dealer_id] -= 1
                if not self._running[dealer_id]:
                    del self._running[dealer_id]
                self._changed.notify_all()


class HostLimits:
    """One ``AsyncLimiter`` per host: at most ``rate_per_s`` acquisitions a second (bursts up to
    that many); a rate of 0 or less means no limit."""

    def __init__(self, rate_per_s: float) -> None:
        self.rate_per_s = rate_per_s
        self._limiters: dict[str, AsyncLimiter] = {}

    async def acquire(self, host: str | None) -> None:
        if host is None or self.rate_per_s <= 0:
            return
        limiter = self._limiters.get(host)
        if limiter is None:
            rate = self.rate_per_s
            # aiolimiter takes whole acquisitions per period: below 1/s, one per 1/rate seconds.
            limiter = AsyncLimiter(rate, 1.0) if rate >= 1 else AsyncLimiter(1, 1.0 / rate)
            self._limiters[host] = limiter
        await limiter.acquire()
