"""SQL-injection and oversized strings in every parameter of every GET operation the app
documents in its /openapi.json: each answer is a 4xx problem+json or a 200 that matched
nothing, never a 5xx, and the tables are unchanged afterwards (guarantee G7)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]

INJECTIONS = [
    "' OR 1=1 --",
    '"; DROP TABLE vehicles; --',
    "%' UNION SELECT api_token, config::text FROM dealers --",
    "1; SELECT pg_sleep(5)",
    "alpha'||(SELECT string_agg(config::text, ',') FROM dealers)||'",
    "%",
    "_",
    "\\",
    "\x00",
    "alpha\x00' OR '1'='1",
    "../../etc/passwd",
    "x" * 20_000,
]
# A valid value for each required parameter, so the injected one reaches the handler.
REQUIRED = {"lat": "40.0", "lng": "-75.0", "radius_km": "50"}
TABLES = ("dealers", "vehicles", "vehicle_observations", "feed_completions", "dead_letters", "job_runs")


def requests(doc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(label, path and query, needs the admin token) for every injection in every parameter."""
    out = []
    for template, item in doc["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        params = operation.get("parameters", [])
        for param in params:
            for value in INJECTIONS:
                path = template
                query = {p["name"]: REQUIRED[p["name"]] for p in params if p.get("required") and p["in"] == "query"}
                for other in params:
                    if other["in"] == "path" and other["name"] != param["name"]:
                        path = path.replace("{" + other["name"] + "}", "alpha")
                if param["in"] == "path":
                    path = path.replace("{" + param["name"] + "}", quote(value, safe=""))
                else:
                    query[param["name"]] = value
                qs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
                label = f"GET {template} {param['name']}={value[:40]!r}"
                out.append((label, path + ("?" + qs if qs else ""), bool(operation.get("security"))))
    return out


async def counts(db: asyncpg.Pool) -> dict[str, int]:
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


@pytest.mark.timeout(120)
async def test_injection_strings_in_every_parameter_are_refused_or_match_nothing(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    for n in range(3):
        await add_vehicle(db, "alpha", vin(n))
    before = await counts(db)
    async with api.get("/openapi.json") as resp:
        cases = requests(await resp.json())
    assert len(cases) > 300  # every parameter of every GET operation, really
    admin = {"Authorization": f"Bearer {api.settings.api_token}"}
    limit = asyncio.Semaphore(8)

    async def ask(label: str, target: str, secured: bool) -> str | None:
        async with limit, api.get(target, headers=admin if secured else {}) as resp:
            body = await resp.read()
            if resp.status >= 500:
                return f"{label}: {resp.status} {body[:200]!r}"
            if 400 <= resp.status < 500 and resp.content_type != "application/problem+json":
                return f"{label}: {resp.status} as {resp.content_type}"
            if resp.status == 200 and resp.content_type == "application/json":
                items = (await resp.json()).get("items")
                if items and not target.startswith("/v1/dealers?"):  # only dealers list has no filter
                    return f"{label}: matched {len(items)} rows"
            return None

    failures = [f for f in await asyncio.gather(*(ask(*c) for c in cases)) if f]
    assert not failures, "\n".join(failures[:30])
    assert await counts(db) == before
    async with api.get("/v1/vehicles?dealer_id=alpha") as resp:
        assert resp.status == 200 and len((await resp.json())["items"]) == 3
