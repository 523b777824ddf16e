"""Read a stream again from a sequence or a time, for reprocessing (docs/replay.md).

    python examples/replay_stream.py --stream OD_CHANGES --subject 'od.vehicle.changed.>' --from-seq 1200
    python examples/replay_stream.py --stream OD_CHANGES --since 2026-03-01T00:00:00Z > changes.ndjson

An ordered consumer: ephemeral (the server forgets it when we leave), no acks, delivered in
stream order with gaps detected and repaired by the client. It leaves every durable consumer,
ours and the partners', where it was. Prints one JSON object a line and stops once caught up.
"""

import argparse
import asyncio
import json
from datetime import datetime

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from od.events import EventDecodeError, decode_event, encode_event


async def main(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.nats)
    js = nc.jetstream()
    if args.from_seq:
        start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=args.from_seq)
    elif args.since:
        since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
    else:
        start = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await js.subscribe(args.subject, stream=args.stream, ordered_consumer=True, config=start)
    while True:
        try:
            msg = await sub.next_msg(timeout=args.idle)
        except TimeoutError:  # nothing (more) from that point on
            break
        try:
            event = json.loads(encode_event(decode_event(msg.data)))  # upcast to the current version
        except EventDecodeError as exc:
            event = {"undecodable": str(exc)}
        meta = msg.metadata
        print(json.dumps({"seq": meta.sequence.stream, "subject": msg.subject, "event": event}), flush=True)
        if meta.num_pending == 0:  # caught up with the stream as it was
            break
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://localhost:4222")
    parser.add_argument("--stream", default="OD_CHANGES")
    parser.add_argument("--subject", default="od.vehicle.changed.>")
    parser.add_argument("--from-seq", type=int, help="first stream sequence to deliver")
    parser.add_argument("--since", help="RFC 3339 time: deliver what the stream stored from then on")
    parser.add_argument("--idle", type=float, default=2.0, help="stop after this many seconds without a message")
    asyncio.run(main(parser.parse_args()))
