"""Access (guarantee G8): every operation /openapi.json marks as secured answers 401
problem+json to anything but ``Bearer <OD_API_TOKEN>``, the token is compared in constant time,
and no read response carries a secret (the admin token, feed credentials, API keys, a
dealer's configuration)."""

from __future__ import annotations

import base64
import hmac
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from starlette.requests import Request

from od.api import auth
from od.api.problems import Problem
from od.config import Settings
from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, serve, vin

TOKEN = "adm1n-T0KEN-5f2e9c41d7"
SECRETS = {
    "api_token": TOKEN,
    "homenet_token": "HN-INTEGRATION-SECRET-77",
    "rebrandly_api_key": "RB-APIKEY-SECRET-31",
}
CONFIG_SECRETS = ["ROOFTOP-SECRET-9081", "HN-DEALER-PASSWORD-4242", "UTM-SECRET-CAMPAIGN"]


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    settings = settings.replace(public_base_url="https://cars.example.test", **SECRETS)
    async with serve(settings) as url, aiohttp.ClientSession() as http:
        yield Api(url, http, settings)


def refusals() -> dict[str, dict[str, str]]:
    basic = base64.b64encode(f"admin:{TOKEN}".encode()).decode()
    return {
        "no header": {},
        "wrong token": {"Authorization": "Bearer not-the-token"},
        "longer token": {"Authorization": f"Bearer {TOKEN}x"},
        "shorter token": {"Authorization": f"Bearer {TOKEN[:-1]}"},
        "same length, one byte off": {"Authorization": f"Bearer {TOKEN[:-1]}X"},
        "empty bearer": {"Authorization": "Bearer "},
        "Basic scheme with the token": {"Authorization": f"Basic {basic}"},
        "token without scheme": {"Authorization": TOKEN},
        "Token scheme": {"Authorization": f"Token {TOKEN}"},
        "token in another header": {"X-Api-Token": TOKEN, "Cookie": f"token={TOKEN}"},
    }


def secured(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path.replace("{dealer_id}", "alpha"))
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]


async def test_every_secured_operation_refuses_anything_but_the_bearer_token(api: Api, db: asyncpg.Pool) -> None:
    await add_dealer(db, "alpha")
    async with api.get("/openapi.json") as resp:
        operations = secured(await resp.json())
    assert {("POST", "/v1/admin/dealers"), ("DELETE", "/v1/admin/dealers/alpha"), ("GET", "/v1/jobs/status"),
            ("POST", "/v1/jobs/run")} <= set(operations)  # fmt: skip
    before = await db.fetchval("SELECT count(*) FROM dealers")
    body = {"type": "DealerChanged", "dealer_id": "alpha", "operation": "upsert", "name": "Hijacked", "job": "x"}
    for method, path in operations:
        for name, headers in refusals().items():
            async with api.http.request(method, api.url + path, headers=headers, json=body) as resp:
                text = await resp.text()
                assert resp.status == 401, (method, path, name, resp.status, text)
                assert resp.content_type == "application/problem+json", (method, path, name)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer"), (method, path, name)
                assert TOKEN not in text and TOKEN not in str(resp.headers), "a refusal never echoes the token"
    assert await db.fetchval("SELECT count(*) FROM dealers") == before
    assert await db.fetchval("SELECT name FROM dealers WHERE dealer_id = 'alpha'") == "Alpha Motors"
    async with api.get("/v1/jobs/status", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200  # the right token does open it


def _request(authorization: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", authorization.encode())]}
    )


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare)
    settings = Settings(api_token=TOKEN)
    auth.require_admin(_request(f"Bearer {TOKEN}"), settings)
    for wrong in (f"{TOKEN}x", "short", f"{TOKEN[:-1]}X"):
        with pytest.raises(Problem) as refused:
            auth.require_admin(_request(f"Bearer {wrong}"), settings)
        assert refused.value.details.status == 401
    assert calls == [(TOKEN.encode(), TOKEN.encode())] + [
        (w.encode(), TOKEN.encode()) for w in (f"{TOKEN}x", "short", f"{TOKEN[:-1]}X")
    ], "every comparison, whatever the length, goes through hmac.compare_digest"


async def test_read_responses_carry_no_secret(api: Api, db: asyncpg.Pool) -> None:
    config = (
        '{"homenet": {"rooftop_id": "ROOFTOP-SECRET-9081", "password": "HN-DEALER-PASSWORD-4242"},'
        ' "utm": {"campaign": "UTM-SECRET-CAMPAIGN"}}'
    )
    await add_dealer(db, "alpha", config=config)
    vehicle = await add_vehicle(db, "alpha", vin(1))
    paths = [
        "/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/robots.txt", "/sitemap.xml",
        "/sitemap-pages.xml", "/sitemap-dealers-1.xml", "/sitemap-vehicles-1.xml",
        "/v1/dealers", "/v1/dealers/alpha", "/v1/vehicles", f"/v1/vehicles/{vehicle}",
        "/v1/vehicles/nearby?lat=40&lng=-75&radius_km=100", "/v1/feeds/vehicles.ndjson",
        "/v1/feeds/dealers/alpha/vehicles.ndjson", "/dealers/alpha", f"/vehicles/{vehicle}",
        f"/{api.settings.indexnow_key}.txt", "/v1/dealers/nobody", "/nope",
    ]  # fmt: skip
    for path in paths:
        async with api.get(path) as resp:
            assert resp.status in (200, 404), (path, resp.status)
            text = await resp.text() + str(resp.headers)
        for secret in [*SECRETS.values(), *CONFIG_SECRETS]:
            assert secret not in text, f"{secret} in {path}"
    async with api.get("/v1/dealers/alpha") as resp:
        assert "config" not in await resp.json()


async def test_admin_upsert_with_credentials_is_refused_without_echoing_them(api: Api) -> None:
    body = {
        "type": "DealerChanged", "dealer_id": "beta", "operation": "upsert", "name": "Beta Motors",
        "platforms": ["homenet"], "homenet": {"rooftop_id": "r1", "password": "HN-DEALER-PASSWORD-4242"},
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with api.http.post(api.url + "/v1/admin/dealers?wait=0", json=body, headers=headers) as resp:
        text = await resp.text()
        assert resp.status == 400 and resp.content_type == "application/problem+json", text
        assert "password" in text and "HN-DEALER-PASSWORD-4242" not in text
