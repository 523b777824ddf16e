"""The coalescer the job worker shares statements with."""

from __future__ import annotations

import asyncio

import pytest

from od.scheduling.coalesce import Coalescer


async def test_calls_made_while_one_is_in_flight_share_the_next() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        await gate.wait()
        return [i * 10 for i in items]

    double = Coalescer(run, max_batch=3)
    calls = [asyncio.create_task(double(i)) for i in range(6)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2], [3, 4, 5]]


async def test_a_lone_call_goes_at_once() -> None:
    async def run(items: list[str]) -> list[str]:
        return [s.upper() for s in items]

    upper = Coalescer(run)
    assert await upper("a") == "A"
    assert await upper("b") == "B"


async def test_a_failing_batch_fails_its_callers_only() -> None:
    async def run(items: list[int]) -> list[int]:
        if 0 in items:
            raise ZeroDivisionError("no zero")
        return [1 // i for i in items]

    invert = Coalescer(run)
    with pytest.raises(ZeroDivisionError):
        await invert(0)
    assert await invert(1) == 1
