"""Operations endpoints: liveness, readiness (NATS and Postgres answer), Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
import nats.js.errors
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from od.api.metrics import ApiMetrics
from od.api.problems import Problem
from od.api.routing import JSON, Operation, json_response, runtime
from od.runtime import Runtime

CHECK_TIMEOUT_S = 2


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct, kw_only=True):
    status: Literal["ready"] = "ready"
    postgres: Literal["ok"] = "ok"
    nats: Literal["ok"] = "ok"


async def healthz(request: Request) -> Response:
    return json_response(Health(), headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    rt = runtime(request)
    failures: list[str] = []
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await rt.pool.fetchval("SELECT 1")
    except Exception as exc:
        failures.append(f"postgres: {type(exc).__name__}")
    try:
        if not rt.nc.is_connected:
            raise ConnectionError("not connected")
        await rt.nc.flush(timeout=CHECK_TIMEOUT_S)
    except Exception as exc:
        failures.append(f"nats: {type(exc).__name__}")
    if failures:
        raise Problem(503, "not ready: " + "; ".join(failures), headers={"Cache-Control": "no-store"})
    return json_response(Readiness(), headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    registry: ApiMetrics = request.app.state.metrics
    async with rt.pool.acquire() as conn:
        checkpoints = await conn.fetch("SELECT consumer, stream, stream_seq FROM consumer_checkpoints")
        dead = await conn.fetch(
            "SELECT consumer, count(*) AS n FROM dead_letters WHERE replayed_at IS NULL GROUP BY consumer"
        )
        await registry.jobs.refresh(conn)
    await registry.enrichment.refresh(rt.nc, rt.pool, rt.subjects)
    last_seqs = {stream: await _last_seq(rt, stream) for stream in {row["stream"] for row in checkpoints}}
    registry.set_state(
        lag=[
            (row["consumer"], row["stream"], max(0, last - row["stream_seq"]))
            for row in checkpoints
            if (last := last_seqs[row["stream"]]) is not None
        ],
        dead_letters=[(row["consumer"], row["n"]) for row in dead],
    )
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


async def _last_seq(rt: Runtime, stream: str) -> int | None:
    """The stream's last sequence; checkpoints may name it with or without the namespace."""
    prefix = rt.subjects.stream("")
    name = stream if stream.startswith(prefix) else rt.subjects.stream(stream)
    try:
        info = await rt.nc.jetstream().stream_info(name)
    except (nats.js.errors.NotFoundError, TimeoutError, nats.errors.Error):
        return None
    return int(info.state.last_seq)


operations = [
    Operation("GET", "/healthz", healthz, "Liveness", responses={JSON: Health}, tags=("ops",)),
    Operation(
        "GET",
        "/readyz",
        readyz,
        "Readiness: NATS and Postgres answer",
        responses={JSON: Readiness},
        errors=(503,),
        tags=("ops",),
    ),
    Operation(
        "GET", "/metrics", metrics, "Prometheus metrics", responses={"text/plain": {"type": "string"}}, tags=("ops",)
    ),
]
