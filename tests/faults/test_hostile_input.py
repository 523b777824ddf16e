"""Hostile payloads through the real consumers (guarantee G6): mixed with valid events on the
inventory stream, each one is dead-lettered (table and ``od.deadletter.<consumer>``) with a
reason naming the problem, every valid event is projected, and the consumer never sticks.
The enrichment workers on the changes stream do the same with what they cannot read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NatsClient

from od.config import Settings
from od.events import encode_event
from od.events.model import utcnow
from od.fakes.indexnow import FakeIndexNow
from od.fakes.rebrandly import FakeRebrandly
from od.handlers import deadletters
from od.runtime import Runtime
from od.streams import StreamsFile
from tests.integration import enrichment_support
from tests.integration.projection_support import dealer, observed, running, settle

SENTINEL = "\u2603HOSTILE\u2603"
IMAGE = "https://img.example-dealer.test/dealer/1HGCM82633A004352/0001.jpg"


def wire(key: int, **fields: Any) -> dict[str, Any]:
    """A valid observation as JSON, with ``fields`` replaced (``None`` removes the field)."""
    doc: dict[str, Any] = msgspec.json.decode(encode_event(observed(key, minute=key)))
    for name, value in fields.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def raw(key: int, field: str, token: bytes, *, quoted: bool = False) -> bytes:
    """An observation whose ``field`` is the raw JSON ``token`` (NaN, deep nesting...), or a
    string of raw bytes (bad UTF-8) when ``quoted``."""
    encoded = msgspec.json.encode(wire(key, **{field: SENTINEL}))
    return encoded.replace(SENTINEL.encode() if quoted else f'"{SENTINEL}"'.encode(), token)


def hostile(max_payload: int) -> dict[str, tuple[bytes, str]]:
    """name -> (payload, what its dead letter's reason must say)."""
    far = (utcnow() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    image_count = 1_000_000 // (len(IMAGE) + 3)
    near_limit = max_payload - 200  # fits the inventory stream; its dead-letter copy carries headers too
    filler = near_limit - len(msgspec.json.encode(wire(120, description="")))
    return {
        "year as text": (msgspec.json.encode(wire(101, year="2021")), "`$.year`"),
        "make as object": (msgspec.json.encode(wire(102, make={"a": 1})), "`$.make`"),
        "images as string": (msgspec.json.encode(wire(103, images=IMAGE)), "`$.images`"),
        "900 KB description": (msgspec.json.encode(wire(104, description="x" * 900_000)), "`$.description`"),
        "1 MB images list": (msgspec.json.encode(wire(105, images=[IMAGE] * image_count)), "`$.images`"),
        "deep list nesting": (raw(106, "options", b"[" * 100_000 + b"]" * 100_000), "recursion"),
        "deep dict nesting": (raw(107, "extra", b'{"a":' * 100_000 + b"1" + b"}" * 100_000), "recursion"),
        "invalid UTF-8": (raw(108, "make", b"Hon\xffda", quoted=True), "UTF-8"),
        "NaN price": (raw(109, "price", b"NaN"), "malformed"),
        "Infinity mileage": (raw(110, "mileage", b"Infinity"), "malformed"),
        "huge integer year": (raw(111, "year", b"9" * 400), "`$.year`"),
        "occurred in year 9999": (msgspec.json.encode(wire(112, occurred_at="9999-12-31T23:59:59Z")), "future"),
        "occurred beyond the clock skew": (msgspec.json.encode(wire(113, occurred_at=far)), "future"),
        "invalid date": (msgspec.json.encode(wire(114, date_in_stock="2026-02-30")), "`$.date_in_stock`"),
        "no type": (msgspec.json.encode(wire(115, type=None)), "`type`"),
        "no event_id": (msgspec.json.encode(wire(116, event_id=None)), "`$.event_id`"),
        "no occurred_at": (msgspec.json.encode(wire(117, occurred_at=None)), "`$.occurred_at`"),
        "unknown type": (msgspec.json.encode(wire(118, type="VehicleExploded")), "unknown event type"),
        "unknown version": (msgspec.json.encode(wire(119, version=99)), "version 99"),
        "payload at the size limit": (msgspec.json.encode(wire(120, description="x" * filler)), "`$.description`"),
        "not JSON": (b"\x00\x01 DROP TABLE vehicles; --", "not an event"),
        "JSON array": (b"[1, 2, 3]", "not an event"),
        "dealer event on the inventory stream": (encode_event(dealer()), "not an event of"),
    }


@pytest.fixture
async def runtime(settings: Settings, js_streams: StreamsFile) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, name="od-test-hostile", pool_size=6)
    yield rt
    await rt.close()


@pytest.mark.timeout(60)
async def test_hostile_payloads_are_dead_lettered_with_a_reason_and_the_rest_projected(
    runtime: Runtime, nc: NatsClient
) -> None:
    pub, subjects = runtime.publisher, runtime.subjects
    cases = hostile(nc.max_payload)
    seq_of: dict[int, str] = {}
    valid_keys = []
    for n, (name, (payload, _)) in enumerate(cases.items()):
        event = observed(n, minute=n, date_in_stock="9999-12-31" if n == 0 else None)  # odd but in the contract
        await pub.publish(event)
        valid_keys.append(n)
        ack = await pub.publish_raw(subjects.vehicle_observed("d1", "homenet"), payload, f"hostile-{n}")
        seq_of[ack.seq] = name

    started = time.monotonic()
    async with running(runtime):
        await settle(runtime, 40)
    elapsed = time.monotonic() - started

    letters = {d.stream_seq: d for d in await deadletters.listing(runtime.pool, limit=1000)}
    assert sorted(letters) == sorted(seq_of), "exactly the hostile payloads are dead-lettered"
    for seq, name in seq_of.items():
        reason = letters[seq].reason
        assert cases[name][1].lower() in reason.lower(), f"{name}: {reason!r}"
    projected = {r["stock_number"] for r in await runtime.pool.fetch("SELECT stock_number FROM vehicles")}
    assert projected == {f"S{k}" for k in valid_keys}
    info = await nc.jetstream().stream_info(subjects.stream("OD_DEADLETTER"))
    assert info.state.messages == len(cases)
    assert elapsed < 40  # well within one ack_wait: nothing waited for a redelivery


def first_reason(runtime: Runtime, consumer: str) -> Callable[[], Any]:
    return lambda: runtime.pool.fetchval("SELECT reason FROM dead_letters WHERE consumer = $1", consumer)


@pytest.mark.timeout(60)
async def test_enrichment_workers_dead_letter_what_they_cannot_read(
    settings: Settings, js_streams: StreamsFile
) -> None:
    doc = msgspec.json.decode(encode_event(enrichment_support.changed("d1:A", "created")))
    doc["vehicle_id"] = "d1:" + "x" * 10_000  # IndexNow reads this one; short links the record
    doc["vehicle"]["vehicle_id"] = 7
    async with FakeRebrandly() as rebrandly, FakeIndexNow(key=settings.indexnow_key) as indexnow:
        enriched = settings.replace(
            rebrandly_url=rebrandly.url,
            rebrandly_api_key=rebrandly.api_key,
            indexnow_endpoint=indexnow.endpoint,
            indexnow_flush_interval_s=0.2,
        )
        async with enrichment_support.runtime_for(enriched) as rt:
            await rt.publisher.publish_raw(rt.subjects.vehicle_changed("d1"), msgspec.json.encode(doc), "hostile")
            async with enrichment_support.running(rt, "shortlinks", "indexnow"):
                for consumer in ("shortlinks", "indexnow"):
                    reason = await enrichment_support.wait_for(first_reason(rt, consumer), what=consumer)
                    assert "`$.vehicle_id`" in reason or "`$.vehicle.vehicle_id`" in reason, reason
        assert not rebrandly.requests and not indexnow.requests
