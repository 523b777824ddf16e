"""Operations endpoints, errors as problem+json, auth and the OpenAPI document."""

from __future__ import annotations

from tests.integration.api_fixtures import Api, api

__all__ = ["api"]


async def test_healthz_readyz(api: Api) -> None:
    async with api.get("/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}
        assert resp.headers["X-Request-ID"]
    async with api.get("/readyz", headers={"X-Request-ID": "abc-123"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"
        assert resp.headers["X-Request-ID"] == "abc-123"


async def test_unknown_route_and_wrong_method_are_problems(api: Api) -> None:
    async with api.get("/nope") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        assert body["status"] == 404 and body["title"] == "Not Found"
    async with api.http.post(api.url + "/healthz") as resp:
        assert resp.status == 405
        assert resp.content_type == "application/problem+json"
        assert "GET" in resp.headers["Allow"]


async def test_openapi_is_31(api: Api) -> None:
    async with api.get("/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert "/healthz" in doc["paths"]
