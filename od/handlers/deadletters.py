"""Dead letters: events a consumer could not apply, kept in the ``dead_letters`` table (and on
the ``od.deadletter.<consumer>`` stream) with the reason, the raw payload and the stream
sequence; listed and re-published after a fix by ``od deadletters``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from od.bus import Publisher
from od.projections.db import Conn


class DeadLetter(msgspec.Struct, kw_only=True):
    id: int
    consumer: str
    stream: str
    stream_seq: int
    subject: str
    reason: str
    payload: bytes
    created_at: datetime
    replayed_at: datetime | None = None


class Rejected(msgspec.Struct, frozen=True):
    """A message about to be dead-lettered: where it came from and why."""

    stream_seq: int
    subject: str
    reason: str
    payload: bytes


async def record(conn: Conn, consumer: str, stream: str, rejected: Sequence[Rejected]) -> None:
    """Insert (idempotently: a redelivered poison message is recorded once)."""
    if rejected:
        await conn.executemany(
            """INSERT INTO dead_letters (consumer, stream, stream_seq, subject, reason, payload)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (consumer, stream, stream_seq) DO NOTHING""",
            [(consumer, stream, r.stream_seq, r.subject, r.reason, r.payload) for r in rejected],
        )


async def listing(
    db: asyncpg.Pool | Conn, *, consumer: str | None = None, replayed: bool = False, limit: int = 100
) -> list[DeadLetter]:
    """Newest first; by default only those not yet replayed."""
    rows = await db.fetch(
        """SELECT * FROM dead_letters
           WHERE ($1::text IS NULL OR consumer = $1) AND ($2 OR replayed_at IS NULL)
           ORDER BY id DESC LIMIT $3""",
        consumer,
        replayed,
        limit,
    )
    return [DeadLetter(**dict(r)) for r in rows]


async def skipped_sequences(db: asyncpg.Pool | Conn, consumer: str, stream: str) -> set[int]:
    """Stream sequences a consumer dead-lettered (a replay of the stream skips them too)."""
    rows = await db.fetch("SELECT stream_seq FROM dead_letters WHERE consumer = $1 AND stream = $2", consumer, stream)
    return {r["stream_seq"] for r in rows}


async def replay(pool: asyncpg.Pool, publisher: Publisher, ids: Sequence[int] | None = None) -> list[int]:
    """Re-publish dead letters (the given ids, or every one not yet replayed) to their original
    subject under a new message id, and mark them replayed. Returns the ids replayed."""
    if ids is None:
        rows = await pool.fetch("SELECT id, subject, payload FROM dead_letters WHERE replayed_at IS NULL ORDER BY id")
    else:
        rows = await pool.fetch(
            "SELECT id, subject, payload FROM dead_letters WHERE id = ANY($1::bigint[]) ORDER BY id", list(ids)
        )
        missing = set(ids) - {r["id"] for r in rows}
        if missing:
            raise LookupError(f"no dead letter with id {', '.join(map(str, sorted(missing)))}")
    done: list[int] = []
    for r in rows:
        await publisher.publish_raw(r["subject"], r["payload"], f"dl-replay:{r['id']}:{uuid.uuid4().hex}")
        await pool.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = $1", r["id"])
        done.append(r["id"])
    return done
