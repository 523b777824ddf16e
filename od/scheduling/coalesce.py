"""Calls that arrive while a statement is in flight go together in the next one: under load a
worker's concurrent jobs share statements (and commits, each an fsync); alone, a call goes at
once. No timer, so no added latency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """``await coalescer(item)`` → the result for ``item`` of ``run(items)``, which receives
    every item queued since the previous call started (at most ``max_batch``) and returns one
    result per item, in order. An exception fails every item of its batch."""

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 500) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[: self._max_batch], self._queued[self._max_batch :]
            try:
                results = await self._run([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
