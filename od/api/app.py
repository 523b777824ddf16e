"""The read API app: ``create_app(settings)`` composes the route modules below.

Adding endpoints is one line: write a module exposing ``operations: list[Operation]``
(``od.api.routing``), import it here and append it to ``MODULES``. Its routes, OpenAPI
description, problem errors, metrics and (with ``auth=True``) the bearer-token check come
with it. Handlers reach the connections through ``od.api.routing.runtime(request)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

import asyncpg
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from od.api import admin, dealers, feeds, jobs, openapi, ops, pages, seo, vehicles
from od.api.metrics import ApiMetrics
from od.api.middleware import RequestContext
from od.api.problems import Problem, on_error, on_http_exception, on_problem
from od.api.routing import Operation
from od.config import Settings
from od.runtime import Runtime

# Route order matters only within a module (e.g. /v1/vehicles/nearby before /v1/vehicles/{id}).
MODULES: tuple[ModuleType, ...] = (
    ops,
    admin,
    jobs,
    openapi,
    vehicles,
    dealers,
    feeds,
    pages,
    seo,  # last: /{indexnow_key}.txt matches any /NAME.txt
)


DATABASE_SESSION = {
    # Plan each prepared statement once. The API's statements are shaped by their placeholders
    # (a filter is a clause, the sort an index's order, nearby search a box on an index), so
    # the generic plan is the custom one without the 0.2 ms of planning per request: +20%
    # requests/s on `od bench api`. Postgres's `auto` mode is no choice: it may settle on a
    # generic plan built from five unrepresentative runs.
    "plan_cache_mode": "force_generic_plan",
}


async def keep_session(conn: asyncpg.Connection) -> None:
    """The API leaves no session state on a connection (no SET, LISTEN, advisory lock or
    cursor outside a transaction, and asyncpg rolls back an open one before this): releasing
    it needs no reset query, a round trip on every request otherwise."""


def collect(modules: Sequence[ModuleType]) -> list[Operation]:
    operations: list[Operation] = []
    for module in modules:
        operations.extend(module.operations)
    return operations


def create_app(settings: Settings, *, modules: Sequence[ModuleType] = MODULES, pool_size: int = 10) -> Starlette:
    operations = collect(modules)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.runtime = await Runtime.open(
            settings, name="od-api", pool_size=pool_size, server_settings=DATABASE_SESSION, reset=keep_session
        )
        try:
            yield
        finally:
            await app.state.runtime.close()

    middleware = [Middleware(RequestContext, metrics=(metrics := ApiMetrics()))]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "If-None-Match", "If-Modified-Since"],
                expose_headers=["ETag", "Last-Modified", "X-Request-ID"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[op.route() for op in operations],
        middleware=middleware,
        exception_handlers={Problem: on_problem, HTTPException: on_http_exception, Exception: on_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.operations = operations
    app.state.sitemap_cache = {}
    app.state.openapi = msgspec.json.encode(
        openapi.build(operations, title="Open Dealer API", version=_version(), server_url=settings.public_base_url)
    )
    return app


def _version() -> str:
    try:
        return version("open-dealer")
    except PackageNotFoundError:
        return "0.0.0"
