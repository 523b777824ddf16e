"""A job worker's limits: dealers at once, jobs per dealer at once, and job attempts started per
second per external host. Per worker process; run more workers for more throughput."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator

from aiolimiter import AsyncLimiter


class DealerGate:
    """Admits a job when its dealer already runs fewer than ``per_dealer`` jobs here, or when it
    runs none and fewer than ``max_dealers`` dealers run any. Waiters are admitted first come,
    first served, each woken only when it is let in (a worker holds many waiting requests)."""

    def __init__(self, max_dealers: int, per_dealer: int) -> None:
        self.max_dealers = max(1, max_dealers)
        self.per_dealer = max(1, per_dealer)
        self._running: Counter[str] = Counter()
        self._waiting: deque[tuple[str, asyncio.Future[None]]] = deque()

    @property
    def capacity(self) -> int:
        return self.max_dealers * self.per_dealer

    def _fits(self, dealer_id: str) -> bool:
        if dealer_id in self._running:
            return self._running[dealer_id] < self.per_dealer
        return len(self._running) < self.max_dealers

    @contextlib.asynccontextmanager
    async def slot(self, dealer_id: str) -> AsyncIterator[None]:
        if not self._waiting and self._fits(dealer_id):
            self._running[dealer_id] += 1
        else:
            admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (dealer_id, admitted)
            self._waiting.append(entry)
            self._admit()
            try:
                await admitted
            except asyncio.CancelledError:
                if admitted.done() and not admitted.cancelled():
                    self._release(dealer_id)  # let in, but cancelled before it could run
                else:
                    with contextlib.suppress(ValueError):
                        self._waiting.remove(entry)
                raise
        try:
            yield
        finally:
            self._release(dealer_id)

    def _release(self, dealer_id: str) -> None:
        self._running[dealer_id] -= 1
        if not self._running[dealer_id]:
            del self._running[dealer_id]
        self._admit()

    def _admit(self) -> None:
        """Let in every waiter that fits now, oldest first."""
        still: deque[tuple[str, asyncio.Future[None]]] = deque()
        for dealer_id, admitted in self._waiting:
            if not admitted.done() and self._fits(dealer_id):
                self._running[dealer_id] += 1
                admitted.set_result(None)
            elif not admitted.done():
                still.append((dealer_id, admitted))
        self._waiting = still


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
