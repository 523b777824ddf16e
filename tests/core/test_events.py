from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
import pytest

from od.events import (
    DealerChanged,
    EventDecodeError,
    EventRegistry,
    FeedCompleted,
    Subjects,
    VehicleObserved,
    decode_event,
    encode_event,
)
from od.events.schema import event_schemas


def observed(**fields: object) -> VehicleObserved:
    return VehicleObserved(dealer_id="rsm-honda", source="homenet", vin="1HGCM82633A004352", **fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    event = observed(year=2024, price="23995.00", images=["https://x.test/1.jpg"], mileage=6)
    assert decode_event(encode_event(event)) == event


def test_envelope_is_on_the_wire() -> None:
    wire = msgspec.json.decode(encode_event(observed()))
    assert wire["type"] == "VehicleObserved"
    assert wire["version"] == 1
    assert wire["occurred_at"].endswith("Z")
    assert wire["event_id"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"year": "2024"}, "$.year"),
        ({"vin": "1HGCM82633A00435O"}, "$.vin"),
        ({"price": "$23,995"}, "$.price"),
        ({"dealer_id": "Bad Dealer"}, "$.dealer_id"),
        ({"condition": "mint"}, "$.condition"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "$.occurred_at"),
        ({"images": ["https://img.test/1.jpg", "ftp://img.test/2.jpg"]}, "$.images[1]"),
        ({"images": ["https://img.test/1.jpg", "x" * 2049]}, "$.images[1]"),
        ({"dealer_url": "javascript:alert(1)"}, "$.dealer_url"),
    ],
)
def test_decoding_names_the_bad_field(patch: dict[str, object], field: str) -> None:
    wire = msgspec.json.decode(encode_event(observed()))
    wire.update(patch)
    with pytest.raises(EventDecodeError, match=re.escape(f"`{field}`")):
        decode_event(msgspec.json.encode(wire))


def test_unknown_fields_are_ignored() -> None:
    wire = msgspec.json.decode(encode_event(observed()))
    wire["from_the_future"] = {"x": 1}
    assert decode_event(msgspec.json.encode(wire)).vin == "1HGCM82633A004352"  # type: ignore[union-attr]


def test_vehicle_needs_vin_or_stock_number() -> None:
    wire = msgspec.json.decode(encode_event(observed()))
    wire["vin"] = None
    with pytest.raises(EventDecodeError, match="stock_number"):
        decode_event(msgspec.json.encode(wire))
    wire["stock_number"] = "A123"
    assert decode_event(msgspec.json.encode(wire)).key == "stock:A123"  # type: ignore[union-attr]


def test_unknown_type_and_version_are_named() -> None:
    with pytest.raises(EventDecodeError, match=r"\$.type"):
        decode_event(b'{"type": "Nope", "version": 1}')
    with pytest.raises(EventDecodeError, match=r"version 9"):
        decode_event(b'{"type": "FeedCompleted", "version": 9}')
    with pytest.raises(EventDecodeError, match="not an event"):
        decode_event(b"\xff not json")


def test_upsert_needs_a_name() -> None:
    with pytest.raises(EventDecodeError, match="name"):
        decode_event(b'{"type": "DealerChanged", "dealer_id": "a", "operation": "upsert"}')
    envelope = b'"event_id": "e1", "occurred_at": "2026-01-01T00:00:00Z"'
    event = decode_event(b'{"type": "DealerChanged", "dealer_id": "a", "operation": "delete", ' + envelope + b"}")
    assert isinstance(event, DealerChanged)


class FeedCompletedV1(msgspec.Struct, kw_only=True, tag_field="type", tag="FeedCompleted"):
    """How a hypothetical v1 looked once v2 renamed ``vins`` to ``keys``."""

    event_id: str
    version: int = 1
    occurred_at: datetime
    dealer_id: str
    source: str
    run_id: str
    vins: list[str]


def test_a_v1_payload_still_decodes_after_v2_exists() -> None:
    registry = EventRegistry()
    registry.register(FeedCompleted, type_name="FeedCompleted", version=2)

    def v1_to_v2(old: FeedCompletedV1) -> FeedCompleted:
        return FeedCompleted(
            event_id=old.event_id,
            version=2,
            occurred_at=old.occurred_at,
            dealer_id=old.dealer_id,
            source=old.source,
            run_id=old.run_id,
            keys=old.vins,
        )

    registry.register(FeedCompletedV1, type_name="FeedCompleted", version=1, upcast=v1_to_v2)
    v1 = FeedCompletedV1(
        event_id="e1",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        dealer_id="a",
        source="homenet",
        run_id="r1",
        vins=["1HGCM82633A004352"],
    )
    decoded = registry.decode(msgspec.json.encode(v1))
    assert isinstance(decoded, FeedCompleted)
    assert decoded.keys == ["1HGCM82633A004352"]
    assert decoded.version == 2
    assert registry.current_version("FeedCompleted") == 2


def test_every_event_has_a_json_schema() -> None:
    schemas = event_schemas()
    assert set(schemas) == {"DealerChanged", "VehicleObserved", "FeedCompleted", "VehicleChanged"}
    observed_schema = schemas["VehicleObserved"]
    assert observed_schema["properties"]["vin"]["anyOf"][0]["pattern"] == "^[A-HJ-NPR-Z0-9]{17}$"
    assert "occurred_at" in observed_schema["properties"]


def test_subjects_follow_the_contract_and_namespace() -> None:
    event = observed()
    assert Subjects().for_event(event) == "od.vehicle.observed.rsm-honda.homenet"
    ns = Subjects("t1")
    assert ns.for_event(event) == "t1.od.vehicle.observed.rsm-honda.homenet"
    assert ns.contract("t1.od.vehicle.observed.rsm-honda.homenet") == "od.vehicle.observed.rsm-honda.homenet"
    assert ns.stream("OD_INVENTORY") == "T1_OD_INVENTORY"
