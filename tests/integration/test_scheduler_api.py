"""``GET /v1/jobs/status`` and ``POST /v1/jobs/run`` behind the bearer token, served by the real
app over real NATS and Postgres."""

from __future__ import annotations

import asyncpg

from od.scheduling import store
from od.streams import StreamsFile
from tests.integration.api_fixtures import Api, api
from tests.integration.scheduler_support import insert_dealer

__all__ = ["api"]

TOKEN = {"Authorization": "Bearer test-admin-token"}


async def test_job_status_and_manual_runs(api: Api, js_streams: StreamsFile, db: asyncpg.Pool) -> None:
    await insert_dealer(db, "api-dealer", ["homenet", "scrape"], "http://127.0.0.1:9")

    async with api.get("/v1/jobs/status") as resp:
        assert resp.status == 401
    async with api.http.post(api.url + "/v1/jobs/run", json={"dealer_id": "api-dealer", "job": "scrape"}) as resp:
        assert resp.status == 401

    async with api.http.post(
        api.url + "/v1/jobs/run", json={"dealer_id": "api-dealer", "job": "scrape"}, headers=TOKEN
    ) as resp:
        assert resp.status == 202
        queued = await resp.json()
        assert resp.headers["Location"] == "/v1/jobs/status?dealer=api-dealer&platform=scrape"
    assert queued["run_id"].startswith("api-dealer.scrape.manual-") and queued["status"] == "queued"

    async with api.http.post(
        api.url + "/v1/jobs/run", json={"dealer_id": "api-dealer", "job": "scrape"}, headers=TOKEN
    ) as resp:
        assert resp.status == 409
        assert resp.content_type == "application/problem+json"
        assert queued["run_id"] in (await resp.json())["detail"]
    for body, status in [
        ({"dealer_id": "nobody", "job": "scrape"}, 404),
        ({"dealer_id": "api-dealer", "job": "dealer_com"}, 422),
        ({"dealer_id": "api-dealer", "job": "ftp"}, 400),
        ({"dealer_id": "api-dealer"}, 400),
    ]:
        async with api.http.post(api.url + "/v1/jobs/run", json=body, headers=TOKEN) as resp:
            assert resp.status == status, body
            assert resp.content_type == "application/problem+json"

    await db.execute(
        """INSERT INTO job_runs (run_id, dealer_id, job, cycle, status, ended_at, error)
           VALUES ('x.homenet.c1', 'other', 'homenet', 'c1', 'failed', now(), 'HTTP 503 for /feed')"""
    )
    async with api.get("/v1/jobs/status", headers=TOKEN) as resp:
        assert resp.status == 200
        items = (await resp.json())["items"]
    assert [i["run_id"] for i in items] == ["x.homenet.c1", queued["run_id"]]
    async with api.get(
        "/v1/jobs/status?dealer=api-dealer&platform=scrape&status=queued&limit=5", headers=TOKEN
    ) as resp:
        assert [i["run_id"] for i in (await resp.json())["items"]] == [queued["run_id"]]
    async with api.get("/v1/jobs/status?status=failed", headers=TOKEN) as resp:
        (failed,) = (await resp.json())["items"]
    assert failed["error"] == "HTTP 503 for /feed" and failed["dealer_id"] == "other"
    for query, name in [("status=done", "status"), ("limit=0", "limit"), ("platform=ftp", "platform"), ("x=1", "x")]:
        async with api.get(f"/v1/jobs/status?{query}", headers=TOKEN) as resp:
            assert resp.status == 400, query
            assert (await resp.json())["invalid-params"][0]["name"] == name

    assert [r.run_id for r in await store.history(db, dealer_id="api-dealer")] == [queued["run_id"]]
    async with api.get("/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    assert set(paths["/v1/jobs/status"]) == {"get"} and set(paths["/v1/jobs/run"]) == {"post"}
