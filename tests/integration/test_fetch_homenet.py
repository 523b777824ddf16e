"""HomeNet over SOAP against the fake HomeNet service (our WSDL, real HTTP on loopback)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
import structlog.testing
import zeep

from od.config import Settings
from od.fakes import FakeHomeNet, Fault, generate
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.homenet import FIELD_CODES, parse_compressed
from od.fetchers.run import run_fetch
from od.normalize.homenet import homenet_columns
from od.streams import StreamsFile
from tests.conftest import shared_path
from tests.integration.fetch_support import (
    add_dealer,
    completions,
    observations,
    opened,
    rejected,
    with_settings,
)

TOKEN = "s3cr3t-integration-token-0123"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[list[dict[str, Any]], pytest.LogCaptureFixture]]:
    """Every log record, structlog's and the standard library's, at debug level."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs, caplog.at_level(logging.DEBUG):
            yield logs, caplog
    finally:
        structlog.configure(**saved)


async def test_full_pull_publishes_each_vehicle_then_feed_completed(
    settings: Settings,
    js_streams: StreamsFile,
    all_logs: tuple[list[dict[str, Any]], pytest.LogCaptureFixture],
) -> None:
    vehicles = generate(300, seed=11)
    unidentifiable = {"vin": "4T1B", "stock": "", "year": "2020", "make": "Toyota"}
    async with FakeHomeNet({"rt-1": [*vehicles, unidentifiable]}, token=TOKEN) as fake:
        async with opened(settings, homenet_url=fake.service_url, homenet_token=TOKEN) as runtime:
            await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
            summary = await run_fetch(runtime, "acme", "homenet")
            observed = await observations(runtime, "acme", "homenet")
            (completed,) = await completions(runtime, "acme", "homenet")
            (row,) = await rejected(runtime, summary.run_id)

    assert summary.complete and summary.error is None
    assert (summary.found, summary.published, summary.rejected, summary.duplicates) == (301, 300, 1, 0)
    # The record without a VIN or stock number is rejected with its reason, counted and kept.
    assert row["field"] == "vin" and "cannot be identified" in row["reason"]
    assert json.loads(row["raw"])["vin"] == "4T1B"
    assert list(summary.reasons.values()) == [1] and next(iter(summary.reasons)).startswith("vin: no valid VIN")
    assert summary.pages == 2 and summary.bytes > 100_000  # the WSDL and the answer
    assert fake.calls == [
        {
            "IntegrationToken": TOKEN,
            "RooftopCollection": "rt-1",
            "FieldList": ",".join(FIELD_CODES),
            "InventoryFilter": "",
            "UpdatedSinceDate": "",
        }
    ]
    assert [o.vin for o in observed] == [v.vin for v in vehicles]
    assert completed.keys == [v.vin for v in vehicles] and completed.run_id == summary.run_id
    by_vin = {o.vin: o for o in observed}
    for v in vehicles:
        o = by_vin[v.vin]
        assert (o.year, o.make, o.stock_number, o.mileage) == (v.year, v.make, v.stock, v.miles)
        assert o.condition == ("certified" if v.certified else v.condition)
        assert o.price == (f"{v.price}.00" if v.price else (f"{v.msrp}.00" if v.msrp else None))
        assert o.msrp == (f"{v.msrp}.00" if v.msrp else None)  # used cars: MSRP "0" is absent
        assert o.images and len(o.images) == len(v.images)
        assert o.date_in_stock == v.in_stock and o.warnings == []
    # The integration token is a secret: never in the logs.
    logs, caplog = all_logs
    assert TOKEN not in repr(logs) + caplog.text
    assert any(log["event"] == "fetch.done" for log in logs) and "zeep" in caplog.text


async def test_incremental_pull_sends_the_cursor_and_completes_nothing(
    settings: Settings, js_streams: StreamsFile
) -> None:
    vehicles = generate(50, seed=12)
    async with FakeHomeNet({"rt-1": list(vehicles)}, token=TOKEN) as fake:
        async with opened(settings, homenet_url=fake.service_url, homenet_token=TOKEN) as runtime:
            await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
            # No cursor yet: an incremental pull is a full one.
            first = await run_fetch(runtime, "acme", "homenet", full=False)
            assert first.full and first.complete and first.published == 50
            cursor = await runtime.pool.fetchval("SELECT updated_since FROM fetch_cursors WHERE dealer_id = 'acme'")
            # Three cars change at HomeNet after that pull.
            now = datetime.now(UTC)
            for i in (3, 7, 9):
                fake.rooftops["rt-1"][i] = dataclasses.replace(vehicles[i], price=12_345, updated_at=now)
            fake.changed()
            second = await run_fetch(runtime, "acme", "homenet", full=False)
            completed = await completions(runtime, "acme", "homenet")
            observed = await observations(runtime, "acme", "homenet")
            later = await runtime.pool.fetchval("SELECT updated_since FROM fetch_cursors WHERE dealer_id = 'acme'")

    since = datetime.fromisoformat(fake.calls[-1]["UpdatedSinceDate"].replace("Z", "+00:00"))
    assert since == cursor - timedelta(minutes=10)
    assert not second.full and not second.complete and second.error is None
    assert second.published == 3 and [o.price for o in observed[-3:]] == ["12345.00"] * 3
    assert [c.run_id for c in completed] == [first.run_id]
    assert later > cursor


async def test_real_sample_normalizes_without_rejection(settings: Settings, js_streams: StreamsFile) -> None:
    sample = json.loads(shared_path("samples/homenet/homenet-soap-vehicle-rsm-honda.json").read_text())
    # The sample was flattened by its transformer: give back HomeNet's own codes and list format.
    record = {
        {"stock_number": "stock", "price": "sellingprice"}.get(k, k): ("|".join(v) if isinstance(v, list) else v)
        for k, v in sample.items()
    }
    async with FakeHomeNet({"rsm": [record]}, token=TOKEN) as fake:
        async with opened(settings, homenet_url=fake.service_url, homenet_token=TOKEN) as runtime:
            await add_dealer(runtime, "rsm-honda", {"homenet": {"rooftop_id": "rsm"}})
            summary = await run_fetch(runtime, "rsm-honda", "homenet")
            (o,) = await observations(runtime, "rsm-honda", "homenet")
    assert summary.complete and summary.rejected == 0
    assert (o.vin, o.year, o.make, o.model, o.trim) == ("1HGCV1F50MA015459", 2021, "Honda", "Accord Sedan", "EX-L")
    assert o.condition == "certified" and o.mileage == 21918
    assert o.price is None and o.msrp is None  # "" and "0": call for price, never $0
    assert o.stock_number is None and o.images is not None and len(o.images) == 30
    assert o.description and "\n" in o.description


async def test_every_requested_field_is_mapped() -> None:
    assert set(homenet_columns(FIELD_CODES)) == set(FIELD_CODES)


def test_compressed_document_decoding() -> None:
    doc = '<F _0="vin" _1="Stock"><RS><R id="a"><VS><V _0="X1" _1="S&amp;1"/><V _0="X2" _1=""/></VS></R></RS></F>'
    assert list(parse_compressed(doc)) == [{"vin": "X1", "stock": "S&1"}, {"vin": "X2", "stock": ""}]
    with pytest.raises(ValueError):
        list(parse_compressed("  "))


async def test_served_wsdl_is_a_valid_service_description() -> None:
    async with FakeHomeNet({}) as fake:
        import asyncio

        client = await asyncio.to_thread(zeep.Client, f"{fake.service_url}?WSDL")
    operation = client.service._binding._operations["LoadCompressedVehicles"]
    assert [name for name, _ in operation.input.body.type.elements] == [
        "IntegrationToken",
        "RooftopCollection",
        "FieldList",
        "InventoryFilter",
        "UpdatedSinceDate",
    ]
    assert client.service._binding_options["address"] == fake.service_url


T, P = TransientSourceError, PermanentSourceError
CALL = "POST /IntegrationService.asmx"
REFUSED = "HomeNet refused LoadCompressedVehicles"
FAILURES: list[tuple[str, dict[str, Any], str, type[Exception], int]] = [
    # (case, fake/settings changes, reason, error kind, calls the fake saw)
    ("5xx", {"fault": Fault(status=503)}, f"HTTP 503 for {CALL}", T, 2),
    ("truncated", {"fault": Fault(truncate=True)}, f"truncated answer to {CALL}: the body ended early", T, 2),
    ("garbage", {"fault": Fault(garbage=True)}, "garbled answer to LoadCompressedVehicles", T, 2),
    ("timeout", {"fault": Fault(delay_s=1)}, f"timed out after 0.3s: {CALL}", T, 2),
    ("soap fault", {"fault_message": "Timeout expired."}, "SOAP fault: Timeout expired.", T, 2),
    ("401", {"fault": Fault(status=401)}, f"HTTP 401 for {CALL}: access refused", P, 1),
    (
        "429",
        {"fault": Fault(status=429, retry_after="120")},
        f"HTTP 429 Too Many Requests for {CALL}, retry after 120s",
        T,
        1,
    ),
    ("token", {"homenet_token": "wrong-token"}, f"{REFUSED}: Invalid integration token.", P, 1),
    ("rooftop", {"rooftop_id": "nope"}, f"{REFUSED}: Rooftop not found: nope", P, 1),
    ("no rooftop", {"rooftop_id": None}, "dealer has no homenet.rooftop_id configured", P, 0),
    ("no url", {"homenet_url": None}, "OD_HOMENET_URL is not set", P, 0),
    ("no token", {"homenet_token": None}, "OD_HOMENET_TOKEN is not set", P, 0),
]


async def test_every_failure_fails_the_run_with_its_reason_and_no_feed_completed(
    settings: Settings, js_streams: StreamsFile
) -> None:
    async with FakeHomeNet({"rt-1": list(generate(20, seed=13))}, token=TOKEN) as fake:
        async with opened(settings, homenet_url=fake.service_url, homenet_token=TOKEN, fetch_timeout_s=0.3) as base:
            for n, (case, changes, reason, kind, calls) in enumerate(FAILURES):
                fake.fault = changes.get("fault")
                fake.fault_message = changes.get("fault_message")
                fake.calls.clear()
                runtime = with_settings(base, **{k: v for k, v in changes.items() if k.startswith("homenet_")})
                dealer = f"d{n}"
                await add_dealer(runtime, dealer, {"homenet": {"rooftop_id": changes.get("rooftop_id", "rt-1")}})
                with pytest.raises(kind) as failed:
                    await run_fetch(runtime, dealer, "homenet")
                assert reason in failed.value.reason, case
                assert TOKEN not in str(failed.value), case
                assert len(fake.calls) == calls, case
                if case == "429":
                    assert isinstance(failed.value, TransientSourceError) and failed.value.retry_after == 120
            assert await completions(base, "*", "homenet") == []
            assert await base.pool.fetchval("SELECT count(*) FROM fetch_cursors") == 0
            # Once is transient: the retry inside the run gets the answer.
            fake.fault, fake.fault_message = Fault(status=502, times=1), None
            fake.calls.clear()
            summary = await run_fetch(base, "d0", "homenet")
            assert summary.complete and summary.published == 20 and len(fake.calls) == 2
            with pytest.raises(PermanentSourceError, match="no such dealer"):
                await run_fetch(base, "nobody", "homenet")
            with pytest.raises(PermanentSourceError, match="unknown source 'ftp'"):
                await run_fetch(base, "d0", "ftp")
