"""``od fetch`` as operators run it: a process printing the run summary, or one line and exit 1."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from od.config import Settings
from od.fakes import FakeHomeNet, generate
from od.streams import StreamsFile
from tests.integration.fetch_support import add_dealer, opened

TOKEN = "cli-secret-token-42"


async def od(settings: Settings, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {
        **os.environ,
        "OD_NATS_URL": settings.nats_url or "",
        "OD_DATABASE_URL": settings.database_url or "",
        "OD_NAMESPACE": settings.namespace,
        "OD_LOG_FORMAT": "json",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "od.cli",
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_od_fetch_prints_the_summary_or_one_line(settings: Settings, js_streams: StreamsFile) -> None:
    async with FakeHomeNet({"rt-1": list(generate(25, seed=51))}, token=TOKEN) as fake, opened(settings) as runtime:
        await add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
        env = {"OD_HOMENET_URL": fake.service_url, "OD_HOMENET_TOKEN": TOKEN}
        code, out, err = await od(settings, "fetch", "--dealer", "acme", "--source", "homenet", **env)
        assert code == 0, err
        summary = json.loads(out)
        assert summary["complete"] and summary["published"] == 25 and summary["error"] is None
        assert TOKEN not in out + err

        env["OD_HOMENET_TOKEN"] = "wrong"
        code, out, err = await od(settings, "fetch", "--dealer", "acme", "--source", "homenet", "--incremental", **env)
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("od fetch: 127.0.0.1:") and "Invalid integration token." in last
    assert "wrong" not in last
