"""Per consumer, the highest stream sequence applied, saved in the batch's own transaction.

With two workers on one durable consumer this is a high-water mark, not a contiguous one
(a lower batch may still be in flight): good for the lag metric and as a replay's target, not
for skipping messages. Exactly-once effect comes from the idempotent merge instead.
"""

from __future__ import annotations

import asyncpg

from od.projections.db import Conn


async def save(conn: Conn, consumer: str, stream: str, stream_seq: int) -> None:
    await conn.execute(
        """INSERT INTO consumer_checkpoints (consumer, stream, stream_seq) VALUES ($1, $2, $3)
           ON CONFLICT (consumer) DO UPDATE
           SET stream = excluded.stream,
               stream_seq = greatest(consumer_checkpoints.stream_seq, excluded.stream_seq),
               updated_at = now()""",
        consumer,
        stream,
        stream_seq,
    )


async def load(conn: Conn | asyncpg.Pool, consumer: str) -> int:
    seq = await conn.fetchval("SELECT stream_seq FROM consumer_checkpoints WHERE consumer = $1", consumer)
    return int(seq or 0)
