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
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from od.bus import Publisher
from od.events import Subjects
from od.scheduling import store
from od.scheduling.graph import JOBS, Blocked, DealerGraph, Decision, PrereqRun, Waiting, resolve
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
    if not refs:
        return 0
    ordered = sorted(refs, key=lambda r: (_PRIORITY.get(r.job, len(_PRIORITY)), r.dealer_id))
    return await publisher.publish_many(
        (
            publisher.subjects.jobs(r.dealer_id, r.job),
            _encoder.encode(JobRequest(**r._asdict())),
            r.run_id,
        )
        for r in ordered
    )


async def missing(js: JetStreamContext, subjects: Subjects, refs: Sequence[RunRef]) -> list[RunRef]:
    """The runs whose request is no longer on the work queue, neither waiting nor held by a
    worker: a server that crashed before its fsync lost it, and the run would stay queued."""
    stream = subjects.stream("OD_JOBS")
    gone = []
    for ref in refs:
        try:
            msg = await js.get_last_msg(stream, subjects.jobs(ref.dealer_id, ref.job))
        except NotFoundError:
            gone.append(ref)
            continue
        if msg.data is None or decode_request(msg.data).run_id != ref.run_id:
            gone.append(ref)
    return gone


@dataclass(frozen=True)
class Plan:
    """What resolving one dealer's (or several dealers') waiting runs decided."""

    ready: list[RunRef]
    """Runs whose prerequisites all succeeded in their cycle: publish, then settle as queued."""
    decisions: dict[str, Decision]

    @property
    def blocked(self) -> dict[str, str]:
        """run id → reason."""
        return {run: d.reason for run, d in self.decisions.items() if isinstance(d, Blocked)}


NOTHING = Plan([], {})


async def plan(
    conn: Conn, graphs: Mapping[str, DealerGraph], *, ending: Mapping[str, str] | None = None
) -> dict[str, Plan]:
    """Resolve these dealers' waiting runs, per dealer. ``ending`` gives the status of runs the
    caller is about to end in the same statement as the settlement (not yet visible to others)."""
    plans: dict[str, Plan] = {}
    for p in await store.pending(conn, graphs):
        decisions: dict[str, Decision] = {}
        ready: list[RunRef] = []
        for run in p.orphans:
            decisions[run] = Blocked(f"job {p.refs[run].job} is no longer in dealer {p.dealer_id}'s graph")
        waiting = p.waiting
        if ending:
            waiting = [_with_ending(w, ending) for w in waiting]
        for run, decision in resolve(waiting).items():
            decisions[run] = decision
            if decision == "ready":
                ready.append(p.refs[run])
        plans[p.dealer_id] = Plan(ready, decisions)
    return plans


def _with_ending(w: Waiting, ending: Mapping[str, str]) -> Waiting:
    prereqs = {
        job: PrereqRun(run.run_id, ending[run.run_id]) if run is not None and run.run_id in ending else run
        for job, run in w.prereqs.items()
    }
    return Waiting(w.run_id, w.job, prereqs)


async def advance(conn: Conn, publisher: Publisher, graphs: Mapping[str, DealerGraph]) -> Plan:
    """Resolve these dealers' waiting runs: publish those whose prerequisites all succeeded in
    their cycle, block those behind one that did not, leave the rest waiting."""
    plans = (await plan(conn, graphs)).values()
    decided = Plan([r for p in plans for r in p.ready], {k: v for p in plans for k, v in p.decisions.items()})
    await publish(publisher, decided.ready)
    await store.settle(conn, decided.decisions)
    return decided
