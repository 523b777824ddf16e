"""``od api``: serve the app with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from od.api.app import create_app
from od.config import Settings


async def serve(settings: Settings, *, host: str, port: int) -> None:
    if not settings.nats_url or not settings.database_url:
        raise SystemExit("OD_NATS_URL and OD_DATABASE_URL must be set (or run `od demo`)")
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # od.api.middleware logs each request with its request id
        log_config=None,
        server_header=False,
        proxy_headers=True,
    )
    await uvicorn.Server(config).serve()
