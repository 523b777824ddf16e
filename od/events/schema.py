"""JSON Schema of every event, generated from the Structs so it cannot drift."""

from __future__ import annotations

from typing import Any

import msgspec

from od.events.codec import event_type
from od.events.model import EVENT_TYPES

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema per event type, keyed by type name."""
    out: dict[str, dict[str, Any]] = {}
    for struct in EVENT_TYPES:
        (ref,), components = msgspec.json.schema_components([struct], ref_template="#/$defs/{name}")
        name = ref["$ref"].rsplit("/", 1)[-1]
        root = dict(components.pop(name))
        out[event_type(struct)] = {  # type: ignore[arg-type]
            "$schema": SCHEMA_DIALECT,
            "$id": f"https://open-dealer.org/schemas/{name}.json",
            **root,
            "$defs": components,
        }
    return out
