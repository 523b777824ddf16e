"""`od dealer` as an operator runs it: a real process against real NATS and Postgres, with
the real dealer projector consuming in the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from od import admin, worker
from od.config import Settings
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.od_process import ROOT, run_od

EXAMPLES = sorted(str(p) for p in (ROOT / "examples" / "dealers").glob("*.yaml"))


@pytest.fixture
async def rt(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings, name="od-test-dealer-cli", pool_size=2)
    yield runtime
    await runtime.close()


@pytest.fixture
async def projector(rt: Runtime) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.resolve("dealer-projector")(rt, stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 15)


async def test_upsert_list_delete(settings: Settings, rt: Runtime, projector: None) -> None:
    code, out, err = await run_od(settings, "dealer", "upsert", *EXAMPLES)
    assert code == 0, err
    assert sorted(line.split(":")[0] for line in out.splitlines()) == [
        "upsert harbor-point-toyota",
        "upsert lakeside-honda",
        "upsert prairie-ford",
    ]
    code, out, err = await run_od(settings, "dealer", "list", "--json")
    assert code == 0, err
    assert [(d["dealer_id"], d["city"]) for d in json.loads(out)] == [
        ("harbor-point-toyota", "San Diego"),
        ("lakeside-honda", "Austin"),
        ("prairie-ford", "Naperville"),
    ]
    code, out, err = await run_od(settings, "dealer", "delete", "prairie-ford")
    assert code == 0, err
    assert out.startswith("delete prairie-ford: applied (event ")
    assert [d.dealer_id for d in await admin.list_dealers(rt.pool)] == ["harbor-point-toyota", "lakeside-honda"]


async def test_a_bad_file_publishes_nothing_and_says_where(settings: Settings, rt: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "examples" / "dealers" / "prairie-ford.yaml").read_text().replace("  city:", "  cty:"))
    code, _, err = await run_od(settings, "dealer", "upsert", EXAMPLES[0], str(bad))
    assert code == 1
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "cty:" in t)
    assert err.strip() == f"od dealer: {bad}:{line}: `address.cty`: unknown field, did you mean `city`?"
    info = await rt.nc.jetstream().stream_info(rt.subjects.stream("OD_DEALERS"))
    assert info.state.messages == 0


async def test_without_a_worker_it_times_out_with_a_clear_message(settings: Settings, rt: Runtime) -> None:
    code, _, err = await run_od(settings, "dealer", "upsert", "--wait", "0.5", EXAMPLES[0])
    assert code == 1
    assert err.startswith("od dealer: upsert of `harbor-point-toyota` published (event ")
    assert err.rstrip().endswith("but the dealer projector has not applied it within 0.5s: is `od worker` running?")
