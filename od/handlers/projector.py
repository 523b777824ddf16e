"""A projector: a durable pull consumer whose batches are decoded, applied to a store in one
Postgres transaction (with the checkpoint and any dead letters), and acked only after commit.

Failures, by kind:
- poison (undecodable, not an event this stream carries, or from the future beyond
  ``max_clock_skew_s``): dead-lettered at once (table + ``od.deadletter.<consumer>``), counted,
  and the batch goes on;
- transient (connection lost, deadlock, serialization failure, a concurrent create): the
  transaction is retried a few times, then the batch is ``nak``-ed with a delay growing with
  the delivery count — never a tight loop, never a crash;
- a data error from Postgres (bad value, constraint): the batch is split in halves until the
  one event that fails is found and dead-lettered; any other error is retried like a transient
  one until a message was delivered ``POISON_ATTEMPTS`` times, then isolated the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from nats.aio.msg import Msg
from prometheus_client import Counter, Histogram
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from od import bus
from od.events import EventDecodeError, decode_event
from od.events.model import utcnow
from od.handlers import deadletters
from od.handlers.deadletters import Rejected
from od.log import get_logger
from od.projections import checkpoints
from od.projections.db import Conn
from od.projections.lanes import by_dealer
from od.projections.vehicles import ConcurrentCreate
from od.runtime import Runtime

log = get_logger(__name__)

POISON_ATTEMPTS = 5
TX_ATTEMPTS = 5

EVENTS = Counter("od_projector_events", "Events handled by projectors", ["consumer", "outcome"])
CHANGES = Counter("od_projector_changes", "Public records changed (VehicleChanged written)", ["consumer"])
BATCH_SECONDS = Histogram(
    "od_projector_batch_seconds",
    "Time to apply and commit one batch",
    ["consumer"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    ConcurrentCreate,
    asyncpg.TransactionRollbackError,  # deadlock, serialization failure
    asyncpg.InvalidCachedStatementError,  # a replay swapped the tables under a cached plan
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    OSError,
    TimeoutError,
)
DATA_ERRORS: tuple[type[BaseException], ...] = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)

Apply = Callable[[Conn, Sequence[Any]], Awaitable[int]]
"""Apply decoded events inside the caller's transaction; returns how many changes it made."""


@dataclass
class Projector:
    runtime: Runtime
    consumer: str  # the durable consumer's name
    stream: str  # the stream's contract name (OD_INVENTORY, OD_DEALERS)
    accepts: tuple[type, ...]
    apply: Apply
    lanes: int = 1
    """Transactions a batch is split into and applied at once (od.projections.lanes)."""

    async def run(self, stop: Any, *, batch: int = 1000) -> None:
        consumer = bus.InboxPullConsumer(
            self.runtime.nc, self.runtime.subjects.stream(self.stream), self.consumer, self.handle, batch=batch
        )
        await consumer.run(stop)

    async def handle(self, msgs: list[Msg]) -> None:
        good: list[tuple[Msg, Any]] = []
        poison: list[tuple[Msg, str]] = []
        horizon = utcnow() + timedelta(seconds=self.runtime.settings.max_clock_skew_s)
        for msg in msgs:
            try:
                event = decode_event(msg.data)
            except EventDecodeError as exc:
                poison.append((msg, str(exc)))
                continue
            if not isinstance(event, self.accepts):
                poison.append((msg, f"{type(event).__name__} is not an event of {self.stream}"))
            elif event.occurred_at > horizon:
                poison.append((msg, f"occurred_at {event.occurred_at.isoformat()} is in the future (beyond skew)"))
            else:
                good.append((msg, event))
        lanes = by_dealer(good, self.lanes, lambda item: item[1].dealer_id)
        # Poison rides with the first lane; a lane with nothing to commit opens no transaction.
        work = [(lane, poison if i == 0 else []) for i, lane in enumerate(lanes)]
        await asyncio.gather(*(self._commit(events, rejects) for events, rejects in work if events or rejects))

    async def _commit(self, good: list[tuple[Msg, Any]], poison: list[tuple[Msg, str]]) -> None:
        started = time.perf_counter()
        try:
            changes = await self._transaction(good, poison)
        except TRANSIENT_DB_ERRORS as exc:
            await self._nak([m for m, _ in good] + [m for m, _ in poison], exc)
            return
        except Exception as exc:
            deterministic = isinstance(exc, DATA_ERRORS) or any(
                m.metadata.num_delivered >= POISON_ATTEMPTS for m, _ in good
            )
            if not deterministic or not good:
                await self._nak([m for m, _ in good] + [m for m, _ in poison], exc)
                return
            if len(good) == 1:
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                await self._commit([], [*poison, (good[0][0], reason)])
                return
            half = len(good) // 2
            await self._commit(good[:half], poison)
            await self._commit(good[half:], [])
            return
        BATCH_SECONDS.labels(self.consumer).observe(time.perf_counter() - started)
        for msg, _ in good:
            await msg.ack()
        for msg, reason in poison:
            log.warning("projector.dead_letter", consumer=self.consumer, subject=msg.subject, reason=reason)
            await bus.publish_dead_letter(self.runtime.publisher, self.consumer, msg, reason)
        EVENTS.labels(self.consumer, "applied").inc(len(good))
        if poison:
            EVENTS.labels(self.consumer, "dead_lettered").inc(len(poison))
        if changes:
            CHANGES.labels(self.consumer).inc(changes)

    async def _transaction(self, good: list[tuple[Msg, Any]], poison: list[tuple[Msg, str]]) -> int:
        events = [e for _, e in good]
        rejected = [Rejected(m.metadata.sequence.stream, m.subject, reason, bytes(m.data)) for m, reason in poison]
        seqs = [bus.stream_seq(m) for m, _ in good] + [r.stream_seq for r in rejected]
        stream = self.runtime.subjects.stream(self.stream)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, TRANSIENT_DB_ERRORS)),
            wait=wait_random_exponential(multiplier=0.05, max=1),
            stop=stop_after_attempt(TX_ATTEMPTS),
            reraise=True,
        ):
            with attempt:
                async with self.runtime.pool.acquire() as conn, conn.transaction():
                    changes = await self.apply(conn, events) if events else 0
                    await deadletters.record(conn, self.consumer, stream, rejected)
                    if seqs:
                        await checkpoints.save(conn, self.consumer, stream, max(seqs))
                    return changes
        raise AssertionError("unreachable")

    async def _nak(self, msgs: list[Msg], exc: BaseException) -> None:
        log.warning("projector.retry", consumer=self.consumer, messages=len(msgs), error=repr(exc)[:500])
        EVENTS.labels(self.consumer, "retried").inc(len(msgs))
        for msg in msgs:
            try:
                await msg.nak(delay=bus.nak_delay(msg.metadata.num_delivered))
            except Exception as nak_exc:  # the connection is gone: ack_wait redelivers
                log.warning("projector.nak_failed", error=repr(nak_exc))
                return
