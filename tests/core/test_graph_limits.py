"""The worker's limits: dealers at once, jobs per dealer at once, job starts per host."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from od.scheduling.limits import DealerGate, HostLimits


async def test_the_gate_never_exceeds_dealers_at_once_nor_jobs_per_dealer() -> None:
    gate = DealerGate(max_dealers=3, per_dealer=2)
    running: Counter[str] = Counter()
    peak_dealers = peak_per_dealer = 0

    async def job(dealer: str) -> None:
        nonlocal peak_dealers, peak_per_dealer
        async with gate.slot(dealer):
            running[dealer] += 1
            peak_dealers = max(peak_dealers, len(+running))
            peak_per_dealer = max(peak_per_dealer, running[dealer])
            await asyncio.sleep(0.002)
            running[dealer] -= 1

    await asyncio.wait_for(asyncio.gather(*(job(f"d{i % 7}") for i in range(200))), 10)
    assert peak_dealers == 3
    assert peak_per_dealer == 2


async def test_a_waiting_dealer_gets_in_when_one_leaves() -> None:
    gate = DealerGate(max_dealers=1, per_dealer=1)
    order: list[str] = []

    async def job(dealer: str) -> None:
        async with gate.slot(dealer):
            order.append(dealer)
            await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(job("a"), job("b"), job("a")), 5)
    assert sorted(order) == ["a", "a", "b"]


async def test_a_cancelled_waiter_neither_runs_nor_keeps_a_slot() -> None:
    gate = DealerGate(max_dealers=1, per_dealer=1)
    release = asyncio.Event()
    ran: list[str] = []

    async def job(dealer: str) -> None:
        async with gate.slot(dealer):
            ran.append(dealer)
            await release.wait()

    first = asyncio.create_task(job("a"))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(job("b"))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await first
    await asyncio.wait_for(job("c"), 1)
    assert ran == ["a", "c"]
    assert waiting.cancelled()


async def test_host_limits_space_out_starts_per_host_only() -> None:
    limits = HostLimits(rate_per_s=20)
    started = time.monotonic()
    for _ in range(30):
        await limits.acquire("slow.test")
    assert time.monotonic() - started >= 0.4  # 20 at once, then 20/s
    other = time.monotonic()
    await limits.acquire("other.test")
    await limits.acquire(None)
    assert time.monotonic() - other < 0.05


async def test_a_rate_below_one_per_second_still_lets_the_first_through() -> None:
    limits = HostLimits(rate_per_s=0.5)
    started = time.monotonic()
    await limits.acquire("h")
    assert time.monotonic() - started < 0.05
