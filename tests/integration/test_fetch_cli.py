"""``od fetch`` as operators run it: a process printing the run summary, or one line and exit 1."""

from __future__ import annotations

import json

from od.config import Settings
from od.fakes import FakeHomeNet, generate
from od.streams import StreamsFile
from tests.integration.fetch_support import add_dealer, opened
from tests.od_process import run_od

TOKEN = "cli-secret-token-42"


async def test_od_fetch_prints_the_summary_or_one_line(settings: Settings, js_streams: StreamsFile) -> None:
    async with FakeHomeNet({"rt-1": list(generate(25, seed=51))}, token=TOKEN) as fake, opened(settings) as runtime:
        await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
        env = {"OD_HOMENET_URL": fake.service_url, "OD_HOMENET_TOKEN": TOKEN, "OD_LOG_LEVEL": "info"}
        code, out, err = await run_od(settings, "fetch", "--dealer", "acme", "--source", "homenet", env=env)
        assert code == 0, err
        summary = json.loads(out)
        assert summary["complete"] and summary["published"] == 25 and summary["error"] is None
        assert TOKEN not in out + err

        env["OD_HOMENET_TOKEN"] = "wrong"
        code, out, err = await run_od(
            settings, "fetch", "--dealer", "acme", "--source", "homenet", "--incremental", env=env
        )
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("od fetch: 127.0.0.1:") and "Invalid integration token." in last
    assert "wrong" not in last
