from __future__ import annotations

import asyncio

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from od import bus
from od.events import Subjects, VehicleObserved, decode_event
from od.streams import StreamsFile


def observed(i: int) -> VehicleObserved:
    return VehicleObserved(dealer_id="d1", source="homenet", stock_number=f"S{i}", year=2020)


async def test_publish_then_consume_round_trip(nc: NatsClient, subjects: Subjects, js_streams: StreamsFile) -> None:
    publisher = bus.Publisher(nc, subjects, max_in_flight=64)
    events = [observed(i) for i in range(500)]
    assert await publisher.publish_all(events) == 500

    received: list[VehicleObserved] = []
    stop = asyncio.Event()

    async def handle(msgs: list) -> None:  # type: ignore[type-arg]
        for msg in msgs:
            received.append(decode_event(msg.data))  # type: ignore[arg-type]
            await msg.ack()
        if len(received) >= 500:
            stop.set()

    consumer = bus.PullConsumer(nc, subjects.stream("OD_INVENTORY"), "vehicle-projector", handle, batch=100)
    await asyncio.wait_for(consumer.run(stop), 30)
    assert [e.event_id for e in received] == [e.event_id for e in events]


async def test_stream_seq_reads_what_metadata_parses(
    nc: NatsClient, subjects: Subjects, js_streams: StreamsFile
) -> None:
    await bus.Publisher(nc, subjects).publish_all([observed(i) for i in range(3)])
    sub = await nc.jetstream().pull_subscribe_bind(durable="vehicle-projector", stream=subjects.stream("OD_INVENTORY"))
    msgs = await sub.fetch(3, timeout=5)
    assert [bus.stream_seq(m) for m in msgs] == [m.metadata.sequence.stream for m in msgs] == [1, 2, 3]
    # The v2 form (domain and account hash), as a server with a JetStream domain sends it.
    for tail in ("", ".r4nd0m"):
        v2 = Msg(nc, reply=f"$JS.ACK.hub.ACC.S.C.2.42.7.1700000000000000000.0{tail}")
        assert bus.stream_seq(v2) == v2.metadata.sequence.stream == 42


async def test_same_event_id_is_stored_once(nc: NatsClient, subjects: Subjects, js_streams: StreamsFile) -> None:
    publisher = bus.Publisher(nc, subjects)
    event = observed(1)
    first = await publisher.publish(event)
    again = await publisher.publish(event)
    assert again.duplicate and again.seq == first.seq
    assert await publisher.publish_all([event, observed(2), event]) == 1
    info = await nc.jetstream().stream_info(subjects.stream("OD_INVENTORY"))
    assert info.state.messages == 2


async def test_dead_letter_keeps_reason_and_origin(nc: NatsClient, subjects: Subjects, js_streams: StreamsFile) -> None:
    publisher = bus.Publisher(nc, subjects)
    await publisher.publish_raw(subjects.vehicle_observed("d1", "homenet"), b"not json", "poison-1")
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable="vehicle-projector", stream=subjects.stream("OD_INVENTORY"))
    (msg,) = await sub.fetch(1, timeout=5)
    await bus.publish_dead_letter(publisher, "vehicle-projector", msg, "not an event: bad json")
    dl = await js.get_last_msg(subjects.stream("OD_DEADLETTER"), subjects.deadletter("vehicle-projector"))
    assert dl.data == b"not json"
    assert dl.headers is not None
    assert dl.headers[bus.REASON] == "not an event: bad json"
    assert dl.headers[bus.ORIGINAL_SEQUENCE] == "1"
    assert dl.headers[bus.ORIGINAL_SUBJECT] == subjects.vehicle_observed("d1", "homenet")


def test_nak_delay_grows_and_is_capped() -> None:
    delays = [bus.nak_delay(n) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[0] == 0.5 and delays[-1] == 60.0
