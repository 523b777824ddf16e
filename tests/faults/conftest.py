"""Fault tests start servers of their own (tmp dir, free port, loopback), so they run on every
backend and never stop a server another test is using."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from od.embedded import EmbeddedNats, EmbeddedPostgres


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    yield server
    server.stop()
