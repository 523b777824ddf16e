"""GET /v1/dealers and /v1/dealers/{id}: public fields and vehicle counts only."""

from __future__ import annotations

import asyncpg
import msgspec

from od.api.views import DealerView
from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]


async def test_dealers_with_counts_and_pages(api: Api, db: asyncpg.Pool) -> None:
    for n in range(7):
        await add_dealer(db, f"d{n}", same_as=[f"https://social.example/d{n}"])
    await add_dealer(db, "gone", deleted=True)
    await add_dealer(db, "unlocated", lat=None, lng=None)
    for n in range(3):
        await add_vehicle(db, "d1", vin(n))
    await add_vehicle(db, "d1", vin(9), status="sold")

    seen: list[DealerView] = []
    cursor = ""
    while True:
        async with api.get(f"/v1/dealers?limit=3{cursor}") as resp:
            assert resp.status == 200
            text = await resp.text()
            body = msgspec.json.decode(text)
        assert "secret-rooftop" not in text and "config" not in text and "event_id" not in text
        seen += [msgspec.convert(item, DealerView) for item in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert [d.dealer_id for d in seen] == [*(f"d{n}" for n in range(7)), "unlocated"]
    d1 = seen[1]
    assert (d1.vehicle_counts.available, d1.vehicle_counts.sold) == (3, 1)
    assert d1.location is not None and d1.location.lat == 40.0
    assert d1.address.city == "Springfield" and d1.same_as == ["https://social.example/d1"]
    assert seen[-1].location is None

    async with api.get("/v1/dealers/d1") as resp:
        assert msgspec.convert(await resp.json(), DealerView) == d1
    for dealer, status in (("gone", 404), ("nobody", 404), ("NOT%20VALID", 400)):
        async with api.get(f"/v1/dealers/{dealer}") as resp:
            assert resp.status == status
            assert resp.content_type == "application/problem+json"
    async with api.get("/v1/dealers?cursor=garbage") as resp:
        assert resp.status == 400
        assert (await resp.json())["invalid-params"][0]["name"] == "cursor"
