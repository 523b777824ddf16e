"""The HomeNet CSV export, read from a URL (the fake HomeNet) or a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from od.config import Settings
from od.fakes import FakeHomeNet, Fault, generate
from od.fakes.homenet import CSV_COLUMNS, csv_export
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.run import run_fetch
from od.streams import StreamsFile
from tests.integration.fetch_support import add_dealer, completions, observations, opened


async def test_csv_export_from_url_and_path(settings: Settings, js_streams: StreamsFile, tmp_path: Path) -> None:
    vehicles = generate(120, seed=41)
    tab_file = tmp_path / "export.txt"
    tab_file.write_bytes(csv_export(vehicles[:40], delimiter="\t", bom=False))
    async with FakeHomeNet({"rt-1": list(vehicles)}) as fake, opened(settings) as runtime:
        await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
        url = f"{fake.url}/export/rt-1.csv"
        from_url = await run_fetch(runtime, "acme", "homenet_csv", location=url)
        from_path = await run_fetch(runtime, "acme", "homenet_csv", location=str(tab_file))
        observed = await observations(runtime, "acme", "homenet")
        completed = await completions(runtime, "acme", "homenet")

    assert len(CSV_COLUMNS) >= 60
    assert from_url.complete and (from_url.found, from_url.published, from_url.rejected) == (120, 120, 0)
    assert from_path.complete and from_path.published == 40 and from_path.pages == 1
    assert [len(c.keys) for c in completed] == [120, 40] and completed[0].source == "homenet"
    by_vin = {o.vin: o for o in observed[:120]}
    for v in vehicles:
        o = by_vin[v.vin]
        # Internet_Price is 0 for some rows: the selling price is the price then.
        assert o.price == (f"{v.price}.00" if v.price else (f"{v.msrp}.00" if v.msrp else None))
        assert (o.year, o.make, o.model, o.mileage) == (v.year, v.make, v.model, v.miles)
        assert o.condition == ("certified" if v.certified else v.condition)


async def test_csv_failures(settings: Settings, js_streams: StreamsFile, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    headers_only = tmp_path / "headers.csv"
    headers_only.write_bytes(csv_export([]))
    async with FakeHomeNet({"rt-1": list(generate(5, seed=42))}) as fake, opened(settings) as runtime:
        await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
        cases: list[tuple[str | None, str, type[Exception]]] = [
            (str(empty), "lists no vehicles (empty or cut short?)", TransientSourceError),
            (str(headers_only), "lists no vehicles", TransientSourceError),
            (str(tmp_path / "missing.csv"), "cannot read the CSV export", PermanentSourceError),
            (f"{fake.url}/export/unknown.csv", "HTTP 404 for GET /export/unknown.csv", PermanentSourceError),
            (None, "no CSV export location", PermanentSourceError),
        ]
        for location, reason, kind in cases:
            with pytest.raises(kind) as failed:
                await run_fetch(runtime, "acme", "homenet_csv", location=location)
            assert reason in failed.value.reason, location
        fake.fault = Fault(status=500)
        with pytest.raises(TransientSourceError, match="HTTP 500 for GET /export/rt-1.csv"):
            await run_fetch(runtime, "acme", "homenet_csv", location=f"{fake.url}/export/rt-1.csv")
        assert await completions(runtime, "acme", "homenet") == []
