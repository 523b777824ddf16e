"""Operations endpoints, errors as problem+json, auth and the OpenAPI document."""

from __future__ import annotations

from types import ModuleType

import aiohttp
import asyncpg
from nats.aio.client import Client as NatsClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response

from od.api.app import MODULES
from od.api.routing import Operation, json_response
from od.config import Settings
from od.events import Subjects
from tests.integration.api_fixtures import T0, Api, api, serve

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


async def test_metrics_report_requests_lag_dead_letters_and_jobs(
    api: Api, db: asyncpg.Pool, nc: NatsClient, subjects: Subjects, js_streams: object
) -> None:
    js = nc.jetstream()
    for n in range(5):
        await js.publish(subjects.vehicle_observed("alpha", "homenet"), b"{}", headers={"Nats-Msg-Id": f"m{n}"})
    await db.execute(
        "INSERT INTO consumer_checkpoints (consumer, stream, stream_seq) VALUES ('vehicle-projector', $1, 2)",
        "OD_INVENTORY",
    )
    await db.executemany(
        "INSERT INTO dead_letters (consumer, stream, stream_seq, subject, reason, payload, replayed_at)"
        " VALUES ($1, 'OD_INVENTORY', $2, 's', 'bad', '\\x00', $3)",
        [("vehicle-projector", 1, None), ("vehicle-projector", 2, None), ("vehicle-projector", 3, T0)],
    )
    await db.executemany(
        "INSERT INTO job_runs (run_id, dealer_id, job, cycle, status, ended_at)"
        " VALUES ($1, 'alpha', $2, $1, $3, now() - make_interval(secs => $4))",
        [("r1", "homenet", "succeeded", 60), ("r2", "homenet", "failed", 30), ("r3", "scrape", "succeeded", 10)],
    )
    async with api.get("/healthz"):
        pass
    async with api.get("/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("od_projection_lag_messages", (("consumer", "vehicle-projector"), ("stream", "OD_INVENTORY")))] == 3
    assert samples[("od_dead_letters", (("consumer", "vehicle-projector"),))] == 2
    assert samples[("od_jobs_ended", (("status", "failed"),))] == 1
    assert samples[("od_jobs_ended", (("status", "succeeded"),))] == 2
    assert samples[("od_jobs_success_ratio", (("job", "homenet"),))] == 0.5
    assert ("od_enrichment_done_total", (("worker", "shortlinks"),)) in samples
    assert samples[("od_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] >= 1
    assert (
        "od_http_request_duration_seconds_bucket",
        (("le", "0.025"), ("method", "GET"), ("route", "/healthz")),
    ) in samples


async def test_admin_operations_need_the_bearer_token(settings: Settings) -> None:
    async def secret(request: Request) -> Response:
        return json_response({"ok": True})

    module = ModuleType("test_admin_module")
    module.operations = [Operation("GET", "/v1/test-admin", secret, "test", auth=True)]  # type: ignore[attr-defined]
    async with serve(settings, modules=(*MODULES, module)) as url, aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer wrong"}):
            async with http.get(url + "/v1/test-admin", headers=headers) as resp:
                assert resp.status == 401
                assert resp.content_type == "application/problem+json"
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get(url + "/v1/test-admin", headers={"Authorization": "Bearer test-admin-token"}) as resp:
            assert resp.status == 200
        async with http.get(url + "/openapi.json") as resp:
            doc = await resp.json()
        assert doc["paths"]["/v1/test-admin"]["get"]["security"] == [{"bearerAuth": []}]
        async with http.get(url + "/robots.txt") as resp:
            assert "Disallow: /v1/test-admin" in await resp.text()
    async with serve(settings.replace(api_token=None), modules=(*MODULES, module)) as url, aiohttp.ClientSession() as h:
        async with h.get(url + "/v1/test-admin", headers={"Authorization": "Bearer test-admin-token"}) as resp:
            assert resp.status == 401  # no token configured: nobody is admin


async def test_cors_is_configurable(settings: Settings) -> None:
    origin = "https://site.example"
    async with serve(settings.replace(cors_origins=(origin,))) as url, aiohttp.ClientSession() as http:
        preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}
        async with http.options(url + "/v1/vehicles", headers=preflight) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == origin
        async with http.get(url + "/healthz", headers={"Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
    async with serve(settings) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz", headers={"Origin": origin}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_unknown_parameters_are_refused_everywhere(api: Api) -> None:
    for path in ("/healthz?x=1", "/sitemap.xml?page=2", "/v1/feeds/vehicles.ndjson?since=yesterday"):
        async with api.get(path) as resp:
            assert resp.status == 400, path
            body = await resp.json()
            assert body["invalid-params"][0]["reason"] == "unknown parameter"
