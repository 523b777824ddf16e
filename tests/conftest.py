"""Fixtures over real servers: see tests/backends.py for how they are chosen."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from od import bus, streams
from od.config import Settings
from od.events import Subjects
from od.log import configure
from tests.backends import (
    Backends,
    create_test_database,
    drop_test_database,
    ensure_template,
    new_namespace,
    start_backends,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(relative: str) -> Path:
    """A file of ../shared/ (real data nobody here wrote); skip the test when it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/{relative} is not on this machine (real data stays out of the repository)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure("warning", "console")


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    with start_backends() as b:
        yield b


@pytest.fixture
async def database_url(backends: Backends) -> AsyncIterator[str]:
    """A fresh, migrated database of its own for this test."""
    template = await ensure_template(backends.database_url)
    url = await create_test_database(backends.database_url, template)
    yield url
    await drop_test_database(backends.database_url, url)


other_database_url = database_url
"""A second fresh, migrated database in the same test: where a clean run goes, to compare with."""


@pytest.fixture
async def empty_database_url(backends: Backends) -> AsyncIterator[str]:
    """A fresh database with no migrations applied."""
    url = await create_test_database(backends.database_url, None)
    yield url
    await drop_test_database(backends.database_url, url)


@pytest.fixture
def namespace() -> str:
    return new_namespace()


@pytest.fixture
def subjects(namespace: str) -> Subjects:
    return Subjects(namespace)


@pytest.fixture
async def nc(backends: Backends) -> AsyncIterator[NatsClient]:
    client = await bus.connect(backends.nats_url, name="od-test")
    yield client
    await client.close()


@pytest.fixture
async def js_streams(nc: NatsClient, subjects: Subjects) -> AsyncIterator[streams.StreamsFile]:
    """The project's streams and consumers, applied under this test's namespace."""
    spec = streams.load()
    await streams.apply(nc, spec, subjects)
    yield spec
    await delete_streams(nc, subjects)


async def delete_streams(nc: NatsClient, subjects: Subjects) -> None:
    prefix = subjects.stream("")
    reply = await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=10)
    for name in json.loads(reply.data).get("streams") or []:
        if name.startswith(prefix):
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=10)


@pytest.fixture
def settings(backends: Backends, database_url: str, namespace: str) -> Settings:
    return Settings(
        nats_url=backends.nats_url,
        database_url=database_url,
        namespace=namespace,
        api_token="test-admin-token",
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    assert pool is not None
    yield pool
    await pool.close()
