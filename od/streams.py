"""``streams.yaml`` → JetStream: validate, convert to the server's JSON config, diff, apply.

Applying is idempotent: only keys that differ from the server's current config are sent,
and a second run reports no change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import msgspec
from nats.aio.client import Client as NatsClient

from od.events import Subjects

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "streams.yaml"

Duration = int | str
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d)$")
_UNIT_NS = {
    "ns": 1,
    "us": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}
_DURATION_KEYS = {"max_age", "duplicate_window", "ack_wait", "inactive_threshold"}


class StreamsFileError(ValueError):
    """``streams.yaml`` is malformed; the message is one line naming where."""


class ConsumerSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    durable_name: str
    ack_policy: Literal["explicit", "all", "none"]
    description: str | None = None
    deliver_policy: Literal["all", "last", "new", "last_per_subject"] = "all"
    replay_policy: Literal["instant", "original"] = "instant"
    filter_subject: str | None = None
    ack_wait: Duration | None = None
    backoff: list[Duration] | None = None
    max_deliver: int | None = None
    max_ack_pending: int | None = None
    max_waiting: int | None = None
    inactive_threshold: Duration | None = None


class StreamSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    subjects: list[str]
    storage: Literal["file", "memory"]
    retention: Literal["limits", "interest", "workqueue"]
    description: str | None = None
    max_age: Duration | None = None
    max_bytes: int | None = None
    max_msgs: int | None = None
    max_msgs_per_subject: int | None = None
    max_msg_size: int | None = None
    duplicate_window: Duration | None = None
    discard: Literal["old", "new"] | None = None
    num_replicas: int | None = None
    consumers: list[ConsumerSpec] = []


class StreamsFile(msgspec.Struct, forbid_unknown_fields=True):
    streams: list[StreamSpec]


def duration_ns(value: Duration) -> int:
    if isinstance(value, int):
        return value
    match = _DURATION.match(value.strip())
    if not match:
        raise StreamsFileError(f"bad duration {value!r} (use e.g. 90s, 2m, 12h, 30d)")
    return int(float(match.group(1)) * _UNIT_NS[match.group(2)])


def load(path: Path = DEFAULT_FILE) -> StreamsFile:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise StreamsFileError(f"{path}: {exc.strerror}") from None
    try:
        spec = msgspec.yaml.decode(text, type=StreamsFile)
    except msgspec.ValidationError as exc:
        raise StreamsFileError(f"{path.name}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise StreamsFileError(f"{path.name}: {' '.join(str(exc).split())}") from None
    for stream in spec.streams:
        for item in (stream, *stream.consumers):
            for key in _DURATION_KEYS & set(msgspec.structs.asdict(item)):
                value = getattr(item, key)
                if value is not None:
                    duration_ns(value)
            for value in getattr(item, "backoff", None) or []:
                duration_ns(value)
    return spec


def with_replicas(spec: StreamsFile, replicas: int | None) -> StreamsFile:
    """``spec`` with every stream at ``replicas`` copies (``OD_STREAM_REPLICAS``): one file
    serves a single server (R1) and a three-node cluster (R3). Consumers follow their stream."""
    if replicas is None:
        return spec
    if not 1 <= replicas <= 5:
        raise StreamsFileError(f"stream replicas must be 1 to 5, not {replicas}")
    return msgspec.structs.replace(
        spec, streams=[msgspec.structs.replace(s, num_replicas=replicas) for s in spec.streams]
    )


def stream_config(spec: StreamSpec, subjects: Subjects) -> dict[str, Any]:
    """The server's JSON stream config for ``spec`` on this installation."""
    config = _to_server_json(spec, exclude={"consumers"})
    config["name"] = subjects.stream(spec.name)
    config["subjects"] = [subjects.subject(s) for s in spec.subjects]
    return config


def consumer_config(spec: ConsumerSpec, subjects: Subjects) -> dict[str, Any]:
    config = _to_server_json(spec, exclude=set())
    if "filter_subject" in config:
        config["filter_subject"] = subjects.subject(config["filter_subject"])
    return config


def _to_server_json(item: msgspec.Struct, exclude: set[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in msgspec.to_builtins(item).items():
        if key in exclude:
            continue
        if key in _DURATION_KEYS:
            value = duration_ns(value)
        elif key == "backoff":
            value = [duration_ns(v) for v in value]
        config[key] = value
    return config


def export(spec: StreamsFile, subjects: Subjects, directory: Path) -> list[Path]:
    """Write one JSON file per stream and consumer, as the ``nats`` CLI accepts them."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stream in spec.streams:
        config = stream_config(stream, subjects)
        path = directory / f"{config['name']}.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        written.append(path)
        for consumer in stream.consumers:
            path = directory / f"{config['name']}.{consumer.durable_name}.json"
            path.write_text(json.dumps(consumer_config(consumer, subjects), indent=2) + "\n")
            written.append(path)
    return written


class JetStreamApiError(RuntimeError):
    pass


async def _api(nc: NatsClient, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode() if body else b"", timeout=10)
    response: dict[str, Any] = json.loads(reply.data)
    if "error" in response:
        error = response["error"]
        raise JetStreamApiError(f"{subject}: {error.get('description', error)} (code {error.get('err_code')})")
    return response


def diff(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys of ``desired`` whose value differs on the server: ``{key: (current, desired)}``."""
    return {k: (current.get(k), v) for k, v in desired.items() if _norm(current.get(k)) != _norm(v)}


def _norm(value: Any) -> Any:
    return None if value in ("", [], None) else value


async def apply(nc: NatsClient, spec: StreamsFile, subjects: Subjects) -> list[str]:
    """Create or update every stream and consumer; returns one line per change (empty: no-op)."""
    changes: list[str] = []
    for stream in spec.streams:
        desired = stream_config(stream, subjects)
        name = desired["name"]
        try:
            current = (await _api(nc, f"STREAM.INFO.{name}"))["config"]
        except JetStreamApiError as exc:
            if "not found" not in str(exc):
                raise
            await _api(nc, f"STREAM.CREATE.{name}", desired)
            changes.append(f"+ stream {name}")
        else:
            delta = diff(current, desired)
            if delta:
                await _api(nc, f"STREAM.UPDATE.{name}", {**current, **desired})
                changes.extend(f"~ stream {name}.{k}: {old!r} -> {new!r}" for k, (old, new) in delta.items())
        for consumer in stream.consumers:
            changes.extend(await _apply_consumer(nc, name, consumer_config(consumer, subjects)))
    return changes


async def _apply_consumer(nc: NatsClient, stream: str, desired: dict[str, Any]) -> list[str]:
    # An update keeps the server's value of a key the file leaves out; a `backoff` taken out
    # of the file must go (it overrides nak delays), so an absent one is sent empty.
    desired = {"backoff": [], **desired}
    durable = desired["durable_name"]
    try:
        current = (await _api(nc, f"CONSUMER.INFO.{stream}.{durable}"))["config"]
    except JetStreamApiError as exc:
        if "not found" not in str(exc):
            raise
        await _api(nc, f"CONSUMER.DURABLE.CREATE.{stream}.{durable}", {"stream_name": stream, "config": desired})
        return [f"+ consumer {stream}/{durable}"]
    delta = diff(current, desired)
    if not delta:
        return []
    await _api(
        nc,
        f"CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        {"stream_name": stream, "config": {**current, **desired}},
    )
    return [f"~ consumer {stream}/{durable}.{k}: {old!r} -> {new!r}" for k, (old, new) in delta.items()]
