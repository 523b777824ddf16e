"""Secrets never reach the logs (guarantee G8): real code paths run with every secret set —
a HomeNet pull (right and wrong integration token), refused and accepted admin requests,
short links against the Rebrandly fake (right and wrong API key), ``od`` commands in a
subprocess with OD_* secrets and passwords in both server URLs — and everything they log
(structlog JSON at debug, stdlib logging, the subprocesses' stderr and stdout) is searched
for each secret."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from od.config import Settings
from od.fakes import FakeHomeNet, generate
from od.fakes.rebrandly import FakeRebrandly
from od.fakes.vehicle_pages import FakeVehiclePages
from od.fetchers.errors import PermanentSourceError
from od.fetchers.run import run_fetch
from od.log import configure, get_logger
from od.streams import StreamsFile
from tests.backends import Backends
from tests.integration import enrichment_support, fetch_support
from tests.integration.api_fixtures import serve

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "API-TOKEN-SECRET-6c1f0e"
HOMENET_TOKEN = "HOMENET-TOKEN-SECRET-9d3a"
REBRANDLY_KEY = "REBRANDLY-KEY-SECRET-44b7"
DB_PASSWORD = "PG-PASSWORD-SECRET-01ee"
NATS_PASSWORD = "NATS-PASSWORD-SECRET-77aa"
WRONG = "WRONG-GUESS-SECRET-5e5e"  # what a client sent: not ours to log either
SECRETS = [API_TOKEN, HOMENET_TOKEN, REBRANDLY_KEY, DB_PASSWORD, NATS_PASSWORD, WRONG]


def with_password(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest.rpartition('@')[2]}"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of this process, as JSON at debug level, while the test runs."""
    stream = io.StringIO()
    configure("debug", "json", stream=stream)
    yield stream
    configure("warning", "console")


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} appears in {where}:\n" + "\n".join(
            line for line in text.splitlines() if secret in line
        )


@pytest.mark.timeout(90)
async def test_secrets_stay_out_of_this_process_logs(
    settings: Settings, js_streams: StreamsFile, captured: io.StringIO
) -> None:
    secret_settings = settings.replace(api_token=API_TOKEN, homenet_token=HOMENET_TOKEN)

    # A HomeNet pull with the integration token, then one the service refuses.
    async with FakeHomeNet({"rt-1": generate(5, seed=3)}, token=HOMENET_TOKEN) as homenet:
        async with fetch_support.opened(secret_settings, homenet_url=homenet.service_url) as runtime:
            await fetch_support.add_dealer(runtime, "acme", {"homenet": {"rooftop_id": "rt-1"}})
            assert (await run_fetch(runtime, "acme", "homenet")).complete
            homenet.token = "another-token"
            with pytest.raises(PermanentSourceError, match="Invalid integration token"):
                await run_fetch(runtime, "acme", "homenet")

    # Admin requests: refused (wrong token, Basic) and accepted.
    async with serve(secret_settings) as url, aiohttp.ClientSession() as http:
        for header in (f"Bearer {WRONG}", f"Basic {WRONG}", f"Bearer {API_TOKEN}"):
            async with http.get(url + f"/v1/jobs/status?dealer={WRONG.lower()}", headers={"Authorization": header}):
                pass

    # Short links with the API key, then with a key the provider refuses.
    async with FakeVehiclePages() as pages, FakeRebrandly() as rebrandly:
        rebrandly.api_key = REBRANDLY_KEY
        links = secret_settings.replace(
            rebrandly_url=rebrandly.url, rebrandly_api_key=REBRANDLY_KEY, enrichment_max_attempts=2,
            enrichment_retry_base_s=0.1, rebrandly_rate_per_s=100.0, scrape_rate_per_s=100.0,
        )  # fmt: skip
        async with enrichment_support.runtime_for(links) as rt:
            await enrichment_support.insert_dealer(rt.pool, "d1")
            for key in ("A", "B"):
                await enrichment_support.insert_vehicle(rt.pool, f"d1:{key}", "d1", pages.page(f"/{key}"))
            async with enrichment_support.running(rt, "shortlinks"):
                await rt.publisher.publish(enrichment_support.changed("d1:A", "created", dealer_url=pages.page("/A")))
                await enrichment_support.wait_for(
                    lambda: rt.pool.fetchval("SELECT short_url FROM vehicles WHERE vehicle_id = 'd1:A'"), what="link"
                )
                rebrandly.api_key = "rotated-key"
                await rt.publisher.publish(enrichment_support.changed("d1:B", "created", dealer_url=pages.page("/B")))
                await enrichment_support.wait_for(
                    lambda: rt.pool.fetchval("SELECT reason FROM dead_letters WHERE consumer = 'shortlinks'"),
                    what="the refused link's dead letter",
                )

    text = captured.getvalue()
    for event in ("fetch.done", "fetch.failed", "http.request", "enrichment.dead_letter"):
        assert f'"event": "{event}"' in text  # the paths really ran and logged
    assert_clean(text, "the logs")


def test_masking_reaches_nested_values_messages_and_tracebacks(captured: io.StringIO) -> None:
    """Whatever shape a module logs a secret in: a nested mapping, a list, the message itself,
    an exception's text rendered as a traceback, a library's stdlib log record."""
    dsn = f"postgresql://od:{DB_PASSWORD}@db.internal:5432/od"
    log = get_logger("test")
    log.info("settings", settings={"api_token": API_TOKEN, "database_url": dsn, "sources": [{"apikey": WRONG}]})
    log.warning("urls", urls=[dsn, f"nats://od:{NATS_PASSWORD}@nats:4222"])
    log.info(f"connecting to {dsn}")
    try:
        raise ConnectionError(f"cannot reach {dsn}")
    except ConnectionError:
        log.exception("db.failed")
    log.error("db.failed", exc_info=ConnectionError(f"cannot reach {dsn}"))
    logging.getLogger("asyncpg").warning("connecting to %s failed", dsn)  # a library's stdlib record
    logging.getLogger("uvicorn.error").error("unhandled", exc_info=ConnectionError(f"cannot reach {dsn}"))
    text = captured.getvalue()
    assert text.count("db.internal") == 7 and "od:***@db.internal" in text  # masked, not dropped
    assert_clean(text, "the logs")


def od(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "od.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(120)
def test_secrets_stay_out_of_od_commands_output(backends: Backends, database_url: str, namespace: str) -> None:
    env = {
        **os.environ,
        "OD_NATS_URL": with_password(backends.nats_url, "od", NATS_PASSWORD),
        "OD_DATABASE_URL": with_password(database_url, "postgres", DB_PASSWORD),
        "OD_NAMESPACE": namespace,
        "OD_API_TOKEN": API_TOKEN,
        "OD_HOMENET_TOKEN": HOMENET_TOKEN,
        "OD_REBRANDLY_API_KEY": REBRANDLY_KEY,
        "OD_LOG_LEVEL": "debug",
        "OD_LOG_FORMAT": "json",
    }
    runs = [
        od(["streams", "apply"], env),
        od(["migrate"], env),
        od(["jobs", "status"], env),
        od(["deadletters", "list"], env),
        od(["fetch", "--dealer", "nobody", "--source", "homenet"], env),  # fails: unknown dealer
        # Servers that refuse the connection: the error names the host, never the password.
        od(["migrate"], {**env, "OD_DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:9/od"}),
    ]
    assert [r.returncode for r in runs][:4] == [0, 0, 0, 0], [r.stderr[-500:] for r in runs]
    assert runs[4].returncode and runs[5].returncode
    for r in runs:
        assert_clean(r.stdout + r.stderr, " ".join(r.args[3:]))
