"""NDJSON feeds of available vehicles, for crawlers and partners.

The body streams from a server-side cursor in batches (constant memory at any size) inside a
read-only REPEATABLE READ transaction, the same snapshot the ``ETag`` / ``Last-Modified``
were computed in, so the validators describe exactly the bytes sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncpg
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from od.api import store
from od.api.dealers import DealerPath
from od.api.httputil import Validators
from od.api.problems import Problem
from od.api.routing import Operation, runtime

NDJSON = "application/x-ndjson"
BATCH_ROWS = 1000


class CursorStream(StreamingResponse):
    """Streams a query's vehicles as NDJSON; owns its connection and gives it back however
    the response ends (done, HEAD, client gone)."""

    def __init__(
        self, pool: asyncpg.Pool, conn: asyncpg.pool.PoolConnectionProxy, sql: str, args: list[Any], **kw: Any
    ) -> None:
        self._pool, self._conn = pool, conn
        super().__init__(self._lines(sql, args), media_type=NDJSON, **kw)

    async def _lines(self, sql: str, args: list[Any]) -> AsyncIterator[bytes]:
        # The next batch is fetched while this one is encoded and sent: Postgres works on
        # its core while Python works on ours.
        cursor = await self._conn.cursor(sql, *args)
        following = asyncio.ensure_future(cursor.fetch(BATCH_ROWS))
        try:
            while rows := await following:
                following = asyncio.ensure_future(cursor.fetch(BATCH_ROWS))
                yield "".join(f"{row[0]}\n" for row in rows).encode()  # JSON written by Postgres
        finally:
            if not following.done():
                # The stream ended early (client gone): the connection must be idle again
                # before its transaction is rolled back.
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await release(self._pool, self._conn)


async def release(pool: asyncpg.Pool, conn: asyncpg.pool.PoolConnectionProxy) -> None:
    # Shielded: a cancelled stream (client gone) must still end its transaction and return
    # the connection.
    with anyio.CancelScope(shield=True):
        try:
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
        finally:
            await pool.release(conn)


async def _feed(request: Request, dealer_id: str | None) -> Response:
    pool = runtime(request).pool
    conn = await pool.acquire()
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        state = await store.projection_state(conn, dealer_id)
        if state is None:
            raise Problem(404, f"no dealer `{dealer_id}`")
        validators = Validators.of(dealer_id, state, last_modified=state.last_modified)
        if validators.not_modified(request):
            await release(pool, conn)
            return validators.response_304()
        sql, args = store.feed_sql(dealer_id)
        return CursorStream(pool, conn, sql, args, headers=validators.headers("public, max-age=300"))
    except BaseException:
        await release(pool, conn)
        raise


async def vehicles_feed(request: Request) -> Response:
    return await _feed(request, None)


async def dealer_vehicles_feed(request: Request, path: DealerPath) -> Response:
    return await _feed(request, path.dealer_id)


_LINES = {NDJSON: {"type": "string", "description": "one VehicleRecord JSON object a line"}}
operations = [
    Operation(
        "GET", "/v1/feeds/vehicles.ndjson", vehicles_feed, "Every available vehicle, one JSON object a line",
        responses=_LINES, errors=(304,), tags=("feeds",),
    ),
    Operation(
        "GET", "/v1/feeds/dealers/{dealer_id}/vehicles.ndjson", dealer_vehicles_feed,
        "A dealer's available vehicles, one JSON object a line",
        params=DealerPath, responses=_LINES, errors=(304, 404), tags=("feeds",),
    ),
]  # fmt: skip
