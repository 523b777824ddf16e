"""compose.yaml's NATS layout, for real: three servers started with the same flags and
configuration file (fsync before every ack) form a JetStream cluster, `od streams apply` with
OD_STREAM_REPLICAS=3 makes every stream R3, and a stream keeps taking and serving events when
the node leading it is killed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nats.errors
import pytest
import yaml
from nats.js import JetStreamContext

from od import bus, streams
from od.embedded import free_port, nats_server_binary
from od.events import Subjects
from od.events.examples import VEHICLE_CHANGED

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass
class Node:
    name: str
    client: int
    monitor: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"


def compose_nats_flags(name: str) -> dict[str, str]:
    """A node's flags as compose.yaml gives them; a bare flag maps to ``""``."""
    args: list[str] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"][name]["command"]
    flags: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            following = args[i + 1] if i + 1 < len(args) else "--"
            flags[arg] = "" if following.startswith("--") else following
    return flags


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[Node]]:
    names = ["nats-1", "nats-2", "nats-3"]
    routes = {n: free_port() for n in names}
    nodes: list[Node] = []
    for name in names:
        flags = compose_nats_flags(name)
        assert flags["--server_name"] == name and flags["--jetstream"] == "" and flags["--store_dir"] == "/data"
        assert flags["--routes"] == ",".join(f"nats://{n}:6222" for n in names)
        assert flags["--config"] == "/etc/nats/durability.conf"  # compose.nats.conf, mounted
        client, monitor = free_port(), free_port()
        command = [
            nats_server_binary(), "--config", str(ROOT / "compose.nats.conf"),
            "--server_name", name, "--jetstream", "--store_dir", str(tmp_path / name),
            "--cluster_name", flags["--cluster_name"], "-a", "127.0.0.1", "-p", str(client),
            "--http_port", str(monitor), "--cluster", f"nats://127.0.0.1:{routes[name]}",
            "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in routes.values()),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nodes.append(Node(name, client, monitor, process))
    yield nodes
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
            node.process.wait(10)


def healthy(node: Node) -> bool:
    """compose.yaml's health check: the monitor's /healthz answers 200 (JetStream current)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor}/healthz", timeout=1) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


async def test_r3_streams_survive_the_loss_of_their_leader(cluster: list[Node]) -> None:
    async with asyncio.timeout(120):
        await until(lambda: all_healthy(cluster))
        nc = await bus.connect(",".join(n.url for n in cluster), name="od-test-r3")
        try:
            subjects = Subjects("r3")
            js = nc.jetstream()
            # OD_CHANGES and its consumers only: each R3 stream or consumer is a Raft group,
            # and one stream shows what all of them do.
            spec = streams.load()
            spec = msgspec.structs.replace(spec, streams=[s for s in spec.streams if s.name == "OD_CHANGES"])
            changes = await streams.apply(nc, streams.with_replicas(spec, 3), subjects)
            stream = subjects.stream("OD_CHANGES")
            assert f"+ stream {stream}" in changes
            info = await js.stream_info(stream)
            assert info.config.num_replicas == 3
            await until(lambda: all_replicas_current(js, stream))

            publisher = bus.Publisher(nc, subjects)
            events = [msgspec.structs.replace(VEHICLE_CHANGED, event_id=f"r3-{i}") for i in range(200)]
            await publisher.publish_all(events[:100])
            info = await js.stream_info(stream)
            assert info.cluster is not None
            (leader,) = [n for n in cluster if n.name == info.cluster.leader]
            leader.process.send_signal(signal.SIGKILL)
            leader.process.wait()
            await publisher.publish_all(events[100:])  # retried through the leader election

            received = await read_all(js, stream, "indexnow", 200)
            assert list(dict.fromkeys(received)) == [e.event_id for e in events]
            info = await js.stream_info(stream)
            assert info.state.messages == 200 and info.cluster is not None and info.cluster.leader != leader.name
        finally:
            await nc.close()


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll a cluster condition (no event tells us) until it holds; the caller bounds the time."""
    while not await condition():  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def all_healthy(cluster: list[Node]) -> bool:
    return all(await asyncio.gather(*(asyncio.to_thread(healthy, n) for n in cluster)))


async def all_replicas_current(js: JetStreamContext, stream: str) -> bool:
    info = await js.stream_info(stream)
    replicas = info.cluster.replicas if info.cluster else None
    return bool(replicas) and len(replicas or []) == 2 and all(r.current for r in replicas or [])


async def read_all(js: JetStreamContext, stream: str, durable: str, count: int) -> list[str]:
    """Every event id through the durable consumer, riding out its own leader election."""
    received: list[str] = []
    while len(set(received)) < count:
        try:
            sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
            while len(set(received)) < count:
                for msg in await sub.fetch(count, timeout=5):
                    received.append(msgspec.json.decode(msg.data)["event_id"])
                    await msg.ack()
        except (nats.errors.Error, TimeoutError):  # no leader yet: bind again
            await asyncio.sleep(0.2)
    return received
