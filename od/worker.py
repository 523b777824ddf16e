"""``od worker``: runs every registered consumer kind (or ``--only NAME``) until stopped.

A kind is an async function ``run(runtime, stop)``; modules register theirs in ``KINDS``
below, so the list of what a worker runs is readable in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)

WorkerKind = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]

# name -> "module:function"; imported lazily so `od worker --only x` loads only x.
KINDS: dict[str, str] = {
    "dealer-projector": "od.handlers.dealer_projector:run",
    "vehicle-projector": "od.handlers.vehicle_projector:run",  # with the VehicleChanged outbox relay
    "shortlinks": "od.enrichment.shortlinks:run",
    "geocoder": "od.enrichment.geocode:run",
    "indexnow": "od.enrichment.indexnow:run",
    "jobs": "od.scheduling.runner:run",
}


def resolve(name: str) -> WorkerKind:
    try:
        module, _, func = KINDS[name].partition(":")
    except KeyError:
        raise SystemExit(f"unknown worker kind {name!r}; known: {', '.join(sorted(KINDS)) or 'none'}") from None
    kind: WorkerKind = getattr(importlib.import_module(module), func)
    return kind


async def run(runtime: Runtime, stop: asyncio.Event, only: list[str] | None = None) -> None:
    names = only or list(KINDS)
    kinds = {name: resolve(name) for name in names}
    log.info("worker.start", kinds=names)
    tasks = [asyncio.create_task(kind(runtime, stop), name=name) for name, kind in kinds.items()]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def running(runtime: Runtime, only: list[str] | None = None, *, drain_s: float = 30.0) -> AsyncIterator[None]:
    """The worker kinds as tasks of this process while the block runs (the demo, the soak);
    stopped on exit, given ``drain_s`` to finish their batch, then cancelled."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(runtime, stop, only), name="od-worker")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, drain_s)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
