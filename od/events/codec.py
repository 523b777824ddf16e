"""Encoding and strict, versioned decoding of events.

Decoding reads the small ``{type, version}`` header first, decodes the body with the
Struct registered for exactly that version, then *upcasts* it step by step to the
current version. So a v1 payload still decodes after a v2 exists: register the v1
Struct with an upcaster to v2 and every consumer keeps accepting old events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from od.events.model import EVENT_TYPES, AnyEvent


class EventDecodeError(ValueError):
    """A payload that is not a valid event; the message names the field."""


# What msgspec raises on hostile input besides DecodeError: invalid UTF-8 inside a string, and
# nesting deeper than its limit. Both mean "not a valid event", never a crash of the consumer.
_MALFORMED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class _Header(msgspec.Struct):
    type: str
    version: int = 1
    # Present or not: the Structs default them for events made in code, but an event read off
    # a stream without them would get a new id and "now" as its time at every delivery.
    event_id: Any = msgspec.UNSET
    occurred_at: Any = msgspec.UNSET


Upcaster = Callable[[Any], Any]


@dataclass
class _Version:
    struct: type
    decoder: msgspec.json.Decoder[Any]
    upcast: Upcaster | None  # to the next version; None for the current one


@dataclass
class EventRegistry:
    """Which Struct decodes each (type, version), and how old versions are upcast."""

    _versions: dict[tuple[str, int], _Version] = field(default_factory=dict)
    _current: dict[str, int] = field(default_factory=dict)

    def register(self, struct: type, *, type_name: str, version: int, upcast: Upcaster | None = None) -> None:
        if upcast is None:
            self._current[type_name] = max(version, self._current.get(type_name, 0))
        self._versions[(type_name, version)] = _Version(struct, msgspec.json.Decoder(struct), upcast)

    def current_version(self, type_name: str) -> int:
        return self._current[type_name]

    def decode(self, data: bytes | memoryview) -> Any:
        try:
            header = _HEADER_DECODER.decode(data)
        except _MALFORMED as exc:
            raise EventDecodeError(f"not an event: {exc}") from None
        entry = self._versions.get((header.type, header.version))
        if entry is None:
            if header.type not in self._current:
                raise EventDecodeError(f"unknown event type {header.type!r} - at `$.type`")
            raise EventDecodeError(
                f"{header.type} version {header.version} is not supported "
                f"(current {self._current[header.type]}) - at `$.version`"
            )
        try:
            event = entry.decoder.decode(data)
        except _MALFORMED as exc:
            raise EventDecodeError(f"{header.type} v{header.version}: {exc}") from None
        for name in ("event_id", "occurred_at"):
            if getattr(header, name) is msgspec.UNSET:
                raise EventDecodeError(f"{header.type} v{header.version}: envelope field missing - at `$.{name}`")
        while entry.upcast is not None:
            event = entry.upcast(event)
            entry = self._versions[(header.type, event.version)]
        return event


_HEADER_DECODER = msgspec.json.Decoder(_Header)
_ENCODER = msgspec.json.Encoder()

REGISTRY = EventRegistry()
for _struct in EVENT_TYPES:
    REGISTRY.register(_struct, type_name=_struct.__struct_config__.tag, version=1)  # type: ignore[arg-type]


def decode_event(data: bytes | memoryview) -> AnyEvent:
    """Decode any contract event, accepting every version ever shipped."""
    return REGISTRY.decode(data)


def encode_event(event: AnyEvent) -> bytes:
    return _ENCODER.encode(event)


def event_type(event: AnyEvent) -> str:
    return event.__struct_config__.tag  # type: ignore[return-value]
