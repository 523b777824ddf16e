"""Hostile payloads through ``decode_event``: every one is either a valid event or an
``EventDecodeError`` that says what is wrong — never another exception, so a consumer's
``except EventDecodeError: dead-letter`` covers every poison message (guarantee G6)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from od.events import (
    EVENT_TYPES,
    DealerChanged,
    EventDecodeError,
    FeedCompleted,
    FieldWarning,
    VehicleChanged,
    VehicleObserved,
    VehicleRecord,
    decode_event,
    encode_event,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A field named as msgspec names it (`$.images[3]`), or a required field named by __post_init__.
NAMES_A_FIELD = re.compile(r"`\$[^`]*`|`[a-z_]+`")
DOCUMENT_LEVEL = re.compile(r"utf-8|recursion", re.IGNORECASE)


def _valid_events() -> list[Any]:
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    observed = VehicleObserved(
        dealer_id="rsm-honda",
        source="homenet",
        vin="1HGCM82633A004352",
        stock_number="S1",
        year=2024,
        make="Honda",
        price="23995.00",
        mileage=10,
        images=["https://img.test/1.jpg"],
        date_in_stock=date(2026, 10, 1),
        occurred_at=at,
        warnings=[FieldWarning(field="vin", code="check_digit")],
    )
    record = VehicleRecord(
        vehicle_id="rsm-honda:1HGCM82633A004352",
        dealer_id="rsm-honda",
        first_seen_at=observed.occurred_at,
        updated_at=observed.occurred_at,
    )
    return [
        observed,
        DealerChanged(dealer_id="rsm-honda", operation="upsert", name="RSM Honda", platforms=["homenet"]),
        FeedCompleted(dealer_id="rsm-honda", source="homenet", run_id="r1", keys=["1HGCM82633A004352"]),
        VehicleChanged(dealer_id="rsm-honda", vehicle_id=record.vehicle_id, change="created", vehicle=record),
    ]


VALID = [msgspec.json.decode(encode_event(e)) for e in _valid_events()]


def check(data: bytes) -> None:
    """The property: a valid event that survives re-encoding, or an EventDecodeError with a reason."""
    try:
        event = decode_event(data)
    except EventDecodeError as exc:
        message = str(exc)
        assert message, "an EventDecodeError must say why"
        if message.startswith("not an event") or DOCUMENT_LEVEL.search(message):
            return  # not JSON, not an object, not UTF-8, or nested too deep: no field to name
        assert NAMES_A_FIELD.search(message) or "version" in message, message
        return
    assert isinstance(event, EVENT_TYPES)
    assert decode_event(encode_event(event)) == event


# --- hostile values --------------------------------------------------------------------------

# Around the contract's length limits (64, 128, 200, 2048, 20,000) and far beyond.
huge_strings = st.sampled_from([64, 65, 128, 129, 200, 201, 2049, 20_001, 1_500_000]).map(lambda n: "x" * n)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
weird_dates = st.sampled_from(
    [
        "9999-12-31",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "0000-01-01",
        "2026-02-30",
        "2026-13-01T00:00:00Z",
        "2026-11-01T25:00:00Z",
        "2026-11-01T12:00:00",  # no offset
        "2026-11-01T12:00:00+14:00",
        "2026-11-01",
        "",
    ]
)
hostile_values = st.one_of(wrong_types, huge_strings, weird_dates)

# Raw JSON tokens that a JSON encoder would never produce: NaN, infinities, numbers out of range.
RAW_TOKENS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" * 400, b"-0.0", b"0.1e-400"]
# Bytes that are not UTF-8 (a lone continuation byte, an overlong form, a lone surrogate, 0xff).
BAD_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xfe", b"\xf4\x90\x80\x80"]
SENTINEL = "\u2603FUZZ\u2603"


def deep(depth: int, kind: str) -> bytes:
    return (b"[" * depth + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"1" + b"}" * depth)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid event with one field (top-level or nested, known or not) replaced by a hostile value."""
    wire: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(draw(st.sampled_from(VALID))))
    target = wire
    # Sometimes go one level down into a nested object (address, vehicle, ...).
    nested = [k for k, v in wire.items() if isinstance(v, dict)]
    if nested and draw(st.booleans()):
        target = wire[draw(st.sampled_from(nested))]
    key = draw(st.one_of(st.sampled_from(sorted(target)), st.text(max_size=10)) if target else st.text(max_size=10))
    how = draw(st.sampled_from(["value", "raw", "utf8", "deep", "delete"]))
    if how == "value":
        target[key] = draw(hostile_values)
        return msgspec.json.encode(wire)
    if how == "delete":
        target.pop(key, None)
        return msgspec.json.encode(wire)
    target[key] = SENTINEL
    encoded = msgspec.json.encode(wire)
    if how == "raw":
        replacement = draw(st.sampled_from(RAW_TOKENS))
        return encoded.replace(b'"' + SENTINEL.encode() + b'"', replacement)
    if how == "utf8":
        return encoded.replace(SENTINEL.encode(), draw(st.sampled_from(BAD_UTF8)))
    depth = draw(st.sampled_from([10, 1_000, 100_000]))
    return encoded.replace(b'"' + SENTINEL.encode() + b'"', deep(depth, draw(st.sampled_from(["list", "dict"]))))


@FUZZ
@given(mutated())
def test_mutated_events_are_valid_or_rejected_with_a_reason(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.binary(max_size=2_000))
@example(b"")
@example(b"\xff\xfe")
@example(b"null")
@example(b'"VehicleObserved"')
@example(b'{"type": null}')
@example(b'{"type": "VehicleObserved", "version": "1"}')
@example(b'{"type": "VehicleObserved", "version": 1e999}')
@example(b'{"type": "VehicleObserved"}' + b" " * 10)
def test_arbitrary_bytes_are_rejected_with_a_reason(data: bytes) -> None:
    check(data)


json_documents = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(),
    lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    max_leaves=20,
)


@FUZZ
@given(json_documents)
def test_arbitrary_json_documents_are_rejected_with_a_reason(doc: Any) -> None:
    check(msgspec.json.encode(doc))


def _with(event: int, **fields: Any) -> bytes:
    return msgspec.json.encode({**VALID[event], **fields})


def test_known_hostile_payloads() -> None:
    """The cases the issue names, spelled out (the fuzzers above reach them too, by chance)."""
    image = "https://img.example-dealer.test/dealer/1HGCM82633A004352/0001.jpg"
    cases = {
        "1 MB image list": _with(0, images=[image] * (1_000_000 // len(image))),
        "huge string": _with(0, description="x" * 5_000_000),
        "NaN price": _with(0, price=SENTINEL).replace(f'"{SENTINEL}"'.encode(), b"NaN"),
        "float price": _with(0, price=23995.0),
        "year 9999 in stock": _with(0, date_in_stock="9999-12-31"),
        "year 9999 occurred": _with(0, occurred_at="9999-12-31T23:59:59Z"),
        "year 9999 vehicle": _with(0, year=9999),
        "deep nesting": _with(0, extra=SENTINEL).replace(f'"{SENTINEL}"'.encode(), deep(200_000, "list")),
        "deep dict nesting": _with(0, extra=SENTINEL).replace(f'"{SENTINEL}"'.encode(), deep(200_000, "dict")),
        "invalid utf-8": _with(0, make=SENTINEL).replace(SENTINEL.encode(), b"Hon\xffda"),
        "invalid utf-8 in unknown field": _with(0, extra=SENTINEL).replace(SENTINEL.encode(), b"\xc0\xaf"),
        "infinite latitude": _with(1, location=SENTINEL).replace(f'"{SENTINEL}"'.encode(), b'{"lat": 1e999, "lng": 0}'),
        "200,001 keys": _with(2, keys=["K"] * 200_001),
    }
    outcomes = {}
    for name, data in cases.items():
        check(data)
        try:
            decode_event(data)
            outcomes[name] = "accepted"
        except EventDecodeError as exc:
            outcomes[name] = str(exc)
    # What is out of the contract's range is rejected, naming the field...
    for name, field in [
        ("1 MB image list", "$.images"),
        ("huge string", "$.description"),
        ("float price", "$.price"),
        ("year 9999 vehicle", "$.year"),
        ("infinite latitude", "$.location.lat"),
        ("200,001 keys", "$.keys"),
    ]:
        assert f"`{field}`" in outcomes[name], (name, outcomes[name])
    # ...while a date far in the future is a valid value: the projector, not the decoder, judges
    # clock skew (Settings.max_clock_skew_s) and dead-letters such an observation.
    assert outcomes["year 9999 in stock"] == "accepted"
    assert outcomes["year 9999 occurred"] == "accepted"
