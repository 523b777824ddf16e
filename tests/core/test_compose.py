"""compose.yaml and the Dockerfile: the production layout, checked without a Docker engine
(and by `docker compose config` where the client and its compose plugin are installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from od.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
NATS = ["nats-1", "nats-2", "nats-3"]
OD = ["init", "api", "worker", "scheduler"]


def flag(service: str, name: str) -> str:
    args: list[str] = SERVICES[service]["command"]
    return args[args.index(name) + 1]


def test_three_nats_nodes_form_one_jetstream_cluster() -> None:
    routes = ",".join(f"nats://{n}:6222" for n in NATS)
    for node in NATS:
        args = SERVICES[node]["command"]
        assert "--jetstream" in args and flag(node, "--server_name") == node
        assert flag(node, "--cluster_name") == "od" and flag(node, "--routes") == routes
        assert SERVICES[node]["volumes"] == [f"{node}:/data"] and flag(node, "--store_dir") == "/data"
    assert set(COMPOSE["volumes"]) >= {*NATS, "postgres"}


def test_nats_nodes_fsync_before_every_ack() -> None:
    """One Docker host: a power loss stops every replica at once (docs/guarantees.md)."""
    assert COMPOSE["configs"]["nats-durability"]["file"] == "./compose.nats.conf"
    assert "sync_interval: always" in (ROOT / "compose.nats.conf").read_text()
    for node in NATS:
        assert flag(node, "--config") == "/etc/nats/durability.conf"
        assert SERVICES[node]["configs"] == [{"source": "nats-durability", "target": "/etc/nats/durability.conf"}]


def test_od_processes_use_r3_streams_and_every_node_as_a_seed() -> None:
    for name in OD:
        env = SERVICES[name]["environment"]
        assert env["OD_STREAM_REPLICAS"] == "3"
        assert env["OD_NATS_URL"] == ",".join(f"nats://{n}:4222" for n in NATS)
        assert env["OD_DATABASE_URL"].endswith("@postgres:5432/od")


def test_configuration_is_by_environment_and_every_variable_is_a_setting() -> None:
    fields = {f.name for f in msgspec.structs.fields(Settings)}
    env = SERVICES["api"]["environment"]
    assert {k.removeprefix("OD_").lower() for k in env} <= fields
    assert Settings.from_env({k: v for k, v in env.items() if "${" not in v}).stream_replicas == 3


def test_start_order_is_gated_by_health_checks() -> None:
    for name in [*NATS, "postgres", "api"]:
        assert SERVICES[name]["healthcheck"]["test"], name
    assert SERVICES["init"]["depends_on"] == {n: {"condition": "service_healthy"} for n in [*NATS, "postgres"]}
    assert SERVICES["init"]["command"] == ["sh", "-c", "od streams apply && od migrate"]
    assert SERVICES["init"]["restart"] == "no"
    for name in ["api", "worker", "scheduler"]:
        assert SERVICES[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_workers_can_be_scaled() -> None:
    worker = SERVICES["worker"]
    assert worker["command"] == ["od", "worker"]
    assert not {"container_name", "ports", "hostname"} & set(worker), "--scale worker=N needs none of these"


def test_the_image_carries_what_od_reads_from_its_working_directory() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("COPY streams.yaml ./", "COPY migrations ./migrations", "WORKDIR /app", "USER od"):
        assert needed in dockerfile
    assert all(SERVICES[n]["image"] == SERVICES["api"]["image"] for n in OD)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_config_accepts_it() -> None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    env = {**os.environ, "OD_API_TOKEN": "t"}
    done = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
