"""Dealer administration (od.admin and the admin API): publish DealerChanged, wait for the
dealers projection, against real NATS and Postgres with the real dealer projector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from od import admin, worker
from od.config import Settings
from od.events import decode_event
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration.api_fixtures import Api, api

__all__ = ["api"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dealers"
TOKEN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
async def rt(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings, name="od-test-admin", pool_size=4)
    yield runtime
    await runtime.close()


@pytest.fixture
async def dealer_projector(rt: Runtime) -> AsyncIterator[None]:
    """The real dealer projector, as `od worker --only dealer-projector` runs it."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.resolve("dealer-projector")(rt, stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 15)


async def test_upsert_update_delete_round_trip(rt: Runtime, dealer_projector: None) -> None:
    event = admin.load_file(EXAMPLES / "lakeside-honda.yaml")
    result = await admin.publish_and_wait(rt, event)
    assert result.applied and result.event_id == event.event_id
    (row,) = await admin.list_dealers(rt.pool)
    assert (row.dealer_id, row.city, row.platforms) == ("lakeside-honda", "Austin", ["homenet", "dealer_com", "scrape"])
    assert row.event_id == event.event_id

    renamed = msgspec.structs.replace(event, name="Lakeside Honda Austin", event_id="renamed-1")
    assert (await admin.publish_and_wait(rt, renamed)).applied
    assert [d.name for d in await admin.list_dealers(rt.pool)] == ["Lakeside Honda Austin"]

    deleted = await admin.delete(rt, "lakeside-honda")
    assert deleted.applied and deleted.operation == "delete"
    assert await admin.list_dealers(rt.pool) == []
    (gone,) = await admin.list_dealers(rt.pool, include_deleted=True)
    assert gone.deleted_at is not None
    table = admin.format_table([gone]).splitlines()
    assert table[0].split() == ["DEALER", "NAME", "CITY", "PLATFORMS", "LOCATION", "UPDATED"]
    assert table[1].startswith("lakeside-honda (deleted)  Lakeside Honda Austin  Austin, TX  homenet,dealer_com,scrape")
    assert "30.39554,-97.74702 (explicit)" in table[1]


async def test_without_a_worker_the_change_is_on_the_log_but_not_applied(rt: Runtime) -> None:
    event = admin.load_file(EXAMPLES / "prairie-ford.yaml")
    result = await admin.publish_and_wait(rt, event, wait=0.3)
    assert not result.applied
    message = str(admin.NotApplied(result, 0.3))
    assert "has not applied it within 0.3s: is `od worker` running?" in message
    assert f"stream sequence {result.stream_seq}" in message
    stored = await rt.nc.jetstream().get_last_msg(
        rt.subjects.stream("OD_DEALERS"), rt.subjects.dealer_changed("prairie-ford")
    )
    assert decode_event(stored.data) == event


async def test_deleting_an_unknown_dealer_publishes_nothing(rt: Runtime) -> None:
    with pytest.raises(admin.UnknownDealer, match="no dealer `nope`"):
        await admin.delete(rt, "nope")
    info = await rt.nc.jetstream().stream_info(rt.subjects.stream("OD_DEALERS"))
    assert info.state.messages == 0


async def test_admin_api_round_trip(api: Api, js_streams: StreamsFile, dealer_projector: None) -> None:
    body = msgspec.json.encode(admin.load_file(EXAMPLES / "harbor-point-toyota.yaml"))
    async with api.http.post(api.url + "/v1/admin/dealers", data=body) as resp:
        assert resp.status == 401
    async with api.http.post(api.url + "/v1/admin/dealers", data=body, headers=TOKEN) as resp:
        assert resp.status == 200, await resp.text()
        result = await resp.json()
        assert result["applied"] is True and result["dealer_id"] == "harbor-point-toyota"
        assert resp.headers["Location"] == "/v1/dealers/harbor-point-toyota"
    async with api.http.delete(api.url + "/v1/admin/dealers/harbor-point-toyota", headers=TOKEN) as resp:
        assert resp.status == 200
        assert (await resp.json())["operation"] == "delete"
    async with api.http.delete(api.url + "/v1/admin/dealers/nope", headers=TOKEN) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("change", "name", "detail"),
    [
        ({"location": {"lat": 100, "lng": 1}}, "location.lat", "<= 90"),
        ({"adress": {"city": "X"}}, "adress", "unknown field, did you mean `address`?"),
        ({"platforms": ["homenet"]}, "platforms[0]", "platform `homenet` needs"),
        ({"operation": "delete"}, "operation", "only `upsert`"),
    ],
)
async def test_admin_api_names_the_bad_field(
    api: Api, js_streams: StreamsFile, change: dict[str, object], name: str, detail: str
) -> None:
    event = admin.load_file(EXAMPLES / "harbor-point-toyota.yaml")
    body = msgspec.to_builtins(event) | change
    if "adress" in change:
        body["dealer_com"] = None  # one error at a time
    async with api.http.post(api.url + "/v1/admin/dealers", json=body, headers=TOKEN) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
    assert problem["invalid-params"][0]["name"] == name
    assert detail in problem["detail"]


async def test_admin_api_answers_202_while_no_worker_runs(api: Api, js_streams: StreamsFile) -> None:
    body = msgspec.json.encode(admin.load_file(EXAMPLES / "prairie-ford.yaml"))
    async with api.http.post(api.url + "/v1/admin/dealers?wait=0.2", data=body, headers=TOKEN) as resp:
        assert resp.status == 202
        assert (await resp.json())["applied"] is False
