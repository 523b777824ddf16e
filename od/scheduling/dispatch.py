"""Job requests on the work queue, and moving a dealer's waiting runs on once their
prerequisites have ended (the scheduler after creating runs, a worker after ending one).

A request is published *before* its row says ``queued``: a crash in between leaves a waiting
row that the next resolution publishes again under the same ``Nats-Msg-Id`` (stored once), and
a worker may claim a waiting row whose request it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from od.bus import Publisher
from od.scheduling import store
from od.scheduling.graph import JOBS, Blocked, DealerGraph, Decision, resolve
from od.scheduling.store import Conn, RunRef

_PRIORITY = {job.name: job.priority for job in JOBS}


class JobRequest(msgspec.Struct, kw_only=True, frozen=True):
    """The message on ``od.jobs.<dealer_id>.<job>``; its ``Nats-Msg-Id`` is ``run_id``."""

    run_id: str
    dealer_id: str
    job: str
    cycle: str
    scheduled_for: datetime | None = None

    @property
    def ref(self) -> RunRef:
        return RunRef(self.run_id, self.dealer_id, self.job, self.cycle, self.scheduled_for)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JobRequest)


def decode_request(data: bytes) -> JobRequest:
    return _decoder.decode(data)


async def publish(publisher: Publisher, refs: Sequence[RunRef]) -> int:
    """Publish requests, the most urgent job types first; returns how many were new."""
    ordered = sorted(refs, key=lambda r: (_PRIORITY.get(r.job, len(_PRIORITY)), r.dealer_id))
    return await publisher.publish_many(
        (
            publisher.subjects.jobs(r.dealer_id, r.job),
            _encoder.encode(JobRequest(**r._asdict())),
            r.run_id,
        )
        for r in ordered
    )


@dataclass(frozen=True)
class Advanced:
    ready: list[RunRef]
    blocked: dict[str, str]
    """run id → reason."""


async def advance(conn: Conn, publisher: Publisher, graphs: Mapping[str, DealerGraph]) -> Advanced:
    """Resolve these dealers' waiting runs: publish those whose prerequisites all succeeded in
    their cycle, block those behind one that did not, leave the rest waiting."""
    decisions: dict[str, Decision] = {}
    ready: list[RunRef] = []
    for p in await store.pending(conn, graphs):
        for run in p.orphans:
            decisions[run] = Blocked(f"job {p.refs[run].job} is no longer in dealer {p.dealer_id}'s graph")
        for run, decision in resolve(p.waiting).items():
            decisions[run] = decision
            if decision == "ready":
                ready.append(p.refs[run])
    if ready:
        await publish(publisher, ready)
    await store.settle(conn, decisions)
    return Advanced(ready, {run: d.reason for run, d in decisions.items() if isinstance(d, Blocked)})
