"""What a benchmark gets: servers (the configured ones, or embedded), fresh namespaces and
databases, and a way to report figures."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from od import migrate, streams
from od.bus import connect
from od.config import Settings
from od.embedded import servers_for
from od.events import Subjects


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    def line(self) -> str:
        text = f"{self.name:<40} {self.value:>14,.1f} {self.unit}"
        if self.baseline is not None:
            text += f"   baseline {self.baseline:,.1f}   ratio {self.ratio:.2f}"
        if self.target:
            text += f"   (target {self.target})"
        return text

    def as_json(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit, "baseline": self.baseline, "ratio": self.ratio}


@dataclass
class BenchContext:
    nats_url: str
    server_database_url: str
    smoke: bool
    backend: str
    _databases: list[str] = field(default_factory=list)

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, *, smoke: bool) -> AsyncIterator[BenchContext]:
        backend = "configured servers" if settings.nats_url and settings.database_url else "embedded servers"
        with tempfile.TemporaryDirectory(prefix="od-bench-") as root:
            async with servers_for(settings, Path(root)) as found:
                ctx = cls(found.nats_url, found.database_url, smoke, backend)
                try:
                    yield ctx
                finally:
                    await ctx._drop_databases()

    async def settings(self, spec: streams.StreamsFile | None = None) -> Settings:
        """Settings for a fresh installation: own namespace, own migrated database, streams
        applied (the project's, or ``spec``)."""
        namespace = f"b{uuid.uuid4().hex[:8]}"
        database_url = await self._new_database()
        nc = await connect(self.nats_url)
        try:
            await streams.apply(nc, spec or streams.load(), Subjects(namespace))
        finally:
            await nc.close()
        return Settings(nats_url=self.nats_url, database_url=database_url, namespace=namespace)

    async def _new_database(self) -> str:
        name = f"od_bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self.server_database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self._databases.append(name)
        url = self.server_database_url.rpartition("/")[0] + "/" + name
        conn = await asyncpg.connect(url)
        try:
            await migrate.migrate(conn)
        finally:
            await conn.close()
        return url

    async def _drop_databases(self) -> None:
        conn = await asyncpg.connect(self.server_database_url)
        try:
            for name in self._databases:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
