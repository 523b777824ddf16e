"""`od demo` as a new user runs it: a real process, real servers, the sample sources, one
cycle through the real fetchers and workers, the API checked over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

from od.config import Settings
from od.embedded import free_port
from tests.faults.support import until

ROOT = Path(__file__).resolve().parents[2]
DEALERS = ("harbor-point-toyota", "lakeside-honda", "prairie-ford")


def demo_env(data_dir: Path, settings: Settings | None = None) -> dict[str, str]:
    """The environment of a user's shell: no OD_* variables but the data directory, plus the
    servers to use when ``settings`` are given (else the demo starts embedded ones)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OD_")}
    env["OD_DATA_DIR"] = str(data_dir)
    if settings is not None:
        env |= {
            "OD_NATS_URL": settings.nats_url or "",
            "OD_DATABASE_URL": settings.database_url or "",
            "OD_NAMESPACE": settings.namespace,
        }
    return env


async def start_demo(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "od.cli", "demo", "--port", str(free_port()), *args, env=env, cwd=ROOT, stdout=-1
    )


async def demo_once(env: dict[str, str]) -> str:
    proc = await start_demo(env, "--once")
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


def assert_full_report(out: str) -> None:
    assert "checks passed" in out
    assert "Merge conflicts resolved:" in out
    for dealer_id in DEALERS:
        assert f"/v1/vehicles?dealer_id={dealer_id}" in out
        (line,) = [ln for ln in out.splitlines() if ln.strip().startswith(dealer_id) and " vehicles (" in ln]
        assert int(line.split()[1]) > 0, line


def vehicle_counts(out: str) -> dict[str, int]:
    """The report's vehicles per dealer."""
    lines = [ln.split() for ln in out.splitlines() if ln.strip().startswith(DEALERS) and " vehicles (" in ln]
    return {words[0]: int(words[1]) for words in lines}


async def test_demo_on_given_servers_and_a_partner_receives_its_changes(settings: Settings, tmp_path: Path) -> None:
    out = await demo_once(demo_env(tmp_path / "od", settings))
    assert "(given; " in out
    assert_full_report(out)

    # examples/partner_subscriber.py, started after the demo, gets every vehicle's changes.
    db = tmp_path / "partner.sqlite3"
    partner = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "partner_subscriber.py"), "--nats", settings.nats_url or "",
        "--namespace", settings.namespace, "--name", "demo-partner", "--db", str(db), stdout=-1,
    )  # fmt: skip
    expected = sum(vehicle_counts(out).values())
    try:
        await until(lambda: db.exists() and partner_vehicles(db) >= expected, 60, "every vehicle at the partner")
        assert partner_vehicles(db) == expected
    finally:
        partner.send_signal(signal.SIGTERM)
        await asyncio.wait_for(partner.communicate(), 30)
    assert partner.returncode == 0


def partner_vehicles(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM vehicles").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not there yet
            return 0


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_demo_on_embedded_servers_reuses_its_data_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "od")
    assert_full_report(await demo_once(env))
    assert (tmp_path / "od" / "postgres" / "pgdata" / "PG_VERSION").exists()

    # The second run finds the first run's data, serves, and stops cleanly on Ctrl-C.
    proc = await start_demo(env)
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(240):
        while not lines or "Press Ctrl-C" not in lines[-1]:
            line = (await proc.stdout.readline()).decode()
            assert line, "".join(lines)
            lines.append(line)
    out = "".join(lines)
    assert_full_report(out)
    ports = [int(ln.split(":")[-1].split("/")[0]) for ln in out.splitlines() if "OD_NATS_URL=nats://" in ln][:1]
    proc.send_signal(signal.SIGINT)
    rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out + rest.decode()
    assert rest.decode().strip().endswith("stopped")
    assert not (tmp_path / "od" / "postgres" / "pgdata" / "postmaster.pid").exists(), "PostgreSQL still runs"
    assert ports and not port_open(ports[0]), "NATS still runs"
