"""What every enrichment worker does with a message: decode, handle, then ack, retry later
(``nak`` with a growing delay), or dead-letter with the reason after too many attempts.

Handlers raise :class:`RetryLater` for what time may fix (a 5xx, a 429, a projection not yet
caught up) and :class:`Permanent` for what it cannot (a 404 destination, a bad API key);
any other exception counts as a transient failure too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import asyncpg
from nats.aio.msg import Msg

from od import bus
from od.events import AnyEvent, EventDecodeError, decode_event
from od.handlers import deadletters
from od.log import get_logger
from od.runtime import Runtime

log = get_logger(__name__)


class RetryLater(Exception):
    """Try this message again after ``delay`` seconds (default: the growing backoff).
    ``counts=False`` for waits that are not failures (a provider's pause); such a message
    is dead-lettered only after ``patience`` deliveries."""

    def __init__(self, reason: str, *, delay: float | None = None, counts: bool = True) -> None:
        super().__init__(reason)
        self.delay = delay
        self.counts = counts


class Permanent(Exception):
    """Retrying cannot help: dead-letter now, with this reason."""


async def dead_letter(runtime: Runtime, consumer: str, msg: Msg, reason: str) -> None:
    """Keep the message in ``dead_letters`` (for ``od deadletters``) and on
    ``od.deadletter.<consumer>``, then terminate it. Both writes are idempotent, so a crash in
    between is harmless."""
    reason = " ".join(reason.split())[:1000]
    meta = msg.metadata
    async with runtime.pool.acquire() as conn:
        rejected = deadletters.Rejected(meta.sequence.stream, msg.subject, reason, bytes(msg.data))
        await deadletters.record(conn, consumer, meta.stream, [rejected])
    await bus.publish_dead_letter(runtime.publisher, consumer, msg, reason)
    log.warning("enrichment.dead_letter", consumer=consumer, seq=meta.sequence.stream, reason=reason)


async def add_counts(pool: asyncpg.Pool, worker: str, counts: Counter[str]) -> None:
    """Add to the worker's monotonic counters (read by /metrics, summed over processes)."""
    items = [(name, n) for name, n in counts.items() if n]
    if not items:
        return
    await pool.execute(
        """INSERT INTO enrichment_counters (worker, name, value)
           SELECT $1, name, n FROM unnest($2::text[], $3::bigint[]) AS t(name, n)
           ON CONFLICT (worker, name) DO UPDATE
           SET value = enrichment_counters.value + excluded.value, updated_at = now()""",
        worker,
        [name for name, _ in items],
        [n for _, n in items],
    )


Handler = Callable[[AnyEvent, Msg], Awaitable[None]]
OnDeadLetter = Callable[[AnyEvent, str], Awaitable[None]]


@dataclass
class MessageWorker:
    """A batch handler for :class:`od.bus.PullConsumer`: messages with the same ``key`` are
    handled one after another (in stream order), different keys concurrently."""

    runtime: Runtime
    consumer: str
    handle: Handler
    key: Callable[[AnyEvent], Hashable]
    on_dead_letter: OnDeadLetter | None = None
    patience: int = 100
    """Deliveries a message may wait (``RetryLater(counts=False)``) before it is given up."""
    counts: Counter[str] = field(default_factory=Counter)

    async def __call__(self, msgs: list[Msg]) -> None:
        groups: dict[Hashable, list[tuple[Msg, AnyEvent]]] = {}
        for msg in msgs:
            try:
                event = decode_event(msg.data)
            except EventDecodeError as exc:
                await self._dead_letter(msg, None, str(exc))
                continue
            groups.setdefault(self.key(event), []).append((msg, event))
        limit = asyncio.Semaphore(self.runtime.settings.enrichment_concurrency)

        async def run(group: list[tuple[Msg, AnyEvent]]) -> None:
            async with limit:
                for msg, event in group:
                    await self._settle(msg, event)

        await asyncio.gather(*(run(g) for g in groups.values()))
        counts, self.counts = self.counts, Counter()
        await add_counts(self.runtime.pool, self.consumer, counts)

    async def _settle(self, msg: Msg, event: AnyEvent) -> None:
        try:
            await self.handle(event, msg)
        except Permanent as exc:
            await self._dead_letter(msg, event, str(exc))
        except Exception as exc:
            await self._retry(msg, event, exc)
        else:
            await msg.ack()
            self.counts["done"] += 1

    async def _retry(self, msg: Msg, event: AnyEvent, exc: Exception) -> None:
        attempts = msg.metadata.num_delivered
        counts = not isinstance(exc, RetryLater) or exc.counts
        reason = str(exc) or type(exc).__name__
        settings = self.runtime.settings
        if attempts >= (settings.enrichment_max_attempts if counts else self.patience):
            await self._dead_letter(msg, event, f"gave up after {attempts} attempts: {reason}")
            return
        delay = bus.nak_delay(attempts, base=settings.enrichment_retry_base_s)
        if isinstance(exc, RetryLater) and exc.delay is not None:
            delay = max(exc.delay, 0.0) if not counts else max(exc.delay, delay)
        log.info("enrichment.retry", consumer=self.consumer, attempt=attempts, retry_in=round(delay, 2), reason=reason)
        await msg.nak(delay=delay)
        self.counts["retried"] += 1

    async def _dead_letter(self, msg: Msg, event: AnyEvent | None, reason: str) -> None:
        if event is not None and self.on_dead_letter is not None:
            await self.on_dead_letter(event, reason)
        await dead_letter(self.runtime, self.consumer, msg, reason)
        self.counts["dead_lettered"] += 1
