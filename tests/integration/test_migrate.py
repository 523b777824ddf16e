from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from od import migrate


async def test_migrate_twice_is_a_no_op(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        applied = await migrate.migrate(conn)
        assert applied[0] == "0001_core.sql"
        assert await migrate.migrate(conn) == []
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        assert {
            "dealers",
            "vehicles",
            "vehicle_observations",
            "consumer_checkpoints",
            "job_runs",
            "dead_letters",
            "schema_migrations",
        } <= tables
    finally:
        await conn.close()


async def test_edited_migration_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x int);")
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate.migrate(conn, tmp_path)
        (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x bigint);")
        (tmp_path / "0002_two.sql").write_text("CREATE TABLE two (x int);")
        with pytest.raises(migrate.MigrationError, match="0001_one.sql was edited"):
            await migrate.migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('two')") is None
    finally:
        await conn.close()


async def test_failing_migration_changes_nothing(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_bad.sql").write_text("CREATE TABLE half (x int); SELECT nope FROM nowhere;")
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(migrate.MigrationError, match="0001_bad.sql: UndefinedTableError") as err:
            await migrate.migrate(conn, tmp_path)
        assert "\n" not in str(err.value)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(migrate.MigrationError, match="NNNN_lower_snake"):
        migrate.discover(tmp_path)
