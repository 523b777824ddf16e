"""``od bench soak``: the demo's example dealers ×100 (smoke: ×3) through full cycles of the real
job worker, fetchers, projectors and enrichment workers, with faults injected into the sample
sources (5xx, 429, hanging pages, garbage, truncation) and poison published on purpose to the
inventory subjects. Then the invariants, each a reason to fail the run:

- for each (dealer, source) with a completed pull, the available vehicles projected from it are
  exactly those it served;
- nothing is stuck: every durable consumer drained, the outbox empty, every job run ended;
- the dead letters are exactly the poison we published.

No baseline: the figures are counts (what was processed, injected, retried, lost) and a duration.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

import msgspec

from od import admin, worker
from od.bench.context import BenchContext, Figure
from od.config import Settings
from od.demo import cycle
from od.demo.main import example_dealers
from od.demo.sources import SampleSources
from od.events import DealerChanged
from od.fakes.server import Fault
from od.runtime import Runtime
from od.scheduling.graph import TERMINAL

SEED = 20261205
HANG_S = 6.0
"""A hanging page answers after this long: past the soak's fetch timeout, so the fetch times out."""
POISON = (b"\x00\xffnot an event", b'{"type": "VehicleObserved", "event_id": 42}', b"[]")
CYCLE_TIMEOUT_S = 900.0


class SoakFailed(Exception):
    """An invariant did not hold (the message says which)."""


@dataclass
class Faults:
    """The faults set on the shared sample sources, to count how many requests got one."""

    injected: list[tuple[Fault, int]] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        self.injected.append((fault, fault.times or 0))
        return fault

    @property
    def used(self) -> int:
        return sum(initial - (fault.times or 0) for fault, initial in self.injected)


def random_fault(rng: random.Random, most: int, *, garbage: bool) -> Fault:
    """One misbehaviour for up to ``most`` requests: a server error, a 429, a hanging page or
    (where the source's parser reports it as a failed page) a garbled or truncated answer."""
    times = rng.randint(1, most)  # 3 or more can outlast one job attempt's page retries
    kinds = [
        Fault(status=rng.choice((500, 502, 503)), times=times),
        Fault(status=429, retry_after="1", times=times),
        Fault(delay_s=HANG_S, times=1),
    ]
    if garbage:
        kinds += [Fault(garbage=True, times=times), Fault(truncate=True, times=times)]
    return rng.choice(kinds)


def inject(rng: random.Random, sources: SampleSources, faults: Faults, most: int) -> None:
    """Faults for the next cycle on every shared source. Detail pages stay clean: a garbled
    vehicle page is a vehicle the site did not show, not a failure to retry."""
    sources.homenet.fault = faults.add(random_fault(rng, most, garbage=True))
    for server in sources.dealer_com.values():
        server.page_faults[0] = faults.add(random_fault(rng, most, garbage=True))
    for site in sources.sites.values():
        site.faults["/inventory/"] = faults.add(random_fault(rng, most, garbage=False))
        site.faults["/sitemap.xml"] = faults.add(random_fault(rng, most, garbage=False))


def copies(sources: SampleSources, dealers: list[DealerChanged], n: int) -> list[DealerChanged]:
    """``n`` copies of each dealer (ids suffixed), wired to the shared sample sources (started);
    each copy has its own HomeNet rooftop serving the original's records."""
    out = []
    for d in dealers:
        wired = sources.wire(d)
        for i in range(n):
            suffix = f"-{i:03d}"
            changes: dict[str, object] = {"dealer_id": d.dealer_id + suffix}
            if d.slug:
                changes["slug"] = d.slug + suffix
            if d.homenet is not None:
                rooftop = d.homenet.rooftop_id + suffix
                sources.homenet.rooftops[rooftop] = sources.homenet.rooftops[d.homenet.rooftop_id]
                changes["homenet"] = msgspec.structs.replace(d.homenet, rooftop_id=rooftop)
            out.append(msgspec.structs.replace(wired, event_id=uuid.uuid4().hex, **changes))
    sources.homenet.changed()
    return out


def served(sources: SampleSources, dealers: list[DealerChanged]) -> dict[tuple[str, str], set[str]]:
    """(dealer, source) -> the VINs that source shows for that dealer copy."""
    out: dict[tuple[str, str], set[str]] = {}
    for d in dealers:
        original = d.dealer_id.rsplit("-", 1)[0]
        inv = sources.inventories[original]
        for source, vehicles in (("homenet", inv.homenet), ("dealer_com", inv.dealer_com), ("scrape", inv.site)):
            if source in d.platforms:
                out[(d.dealer_id, source)] = {v.vin for v in vehicles}
    return out


def soak_settings(sources: SampleSources, base: Settings, dealers: int) -> Settings:
    """The sample sources' settings, sized for hundreds of dealers on local fakes: short fetch
    timeouts (a hanging page costs seconds, not a minute), quick job retries, and a breaker that
    does not open (every dealer here shares one fake host per kind, so a burst of injected faults
    is not an outage)."""
    return sources.settings(base).replace(
        fetch_timeout_s=2.0,
        jobs_retry_initial_s=0.5,
        jobs_retry_max_s=2.0,
        jobs_breaker_failures=1_000_000,
        jobs_max_dealers=min(32, dealers),
        jobs_host_rate_per_s=1000.0,
        scrape_rate_per_s=1000.0,
        rebrandly_rate_per_s=1000.0,
        geocoder_rate_per_s=1000.0,
    )


async def poison(rt: Runtime, rng: random.Random, dealer_ids: list[str], n: int) -> None:
    """``n`` undecodable or malformed messages on inventory subjects (each its own message id)."""
    items = [
        (rt.subjects.vehicle_observed(rng.choice(dealer_ids), "homenet"), rng.choice(POISON), f"poison-{uuid.uuid4()}")
        for _ in range(n)
    ]
    await rt.publisher.publish_many(items)


@dataclass
class Check:
    lost: int = 0
    never_completed: int = 0
    failures: list[str] = field(default_factory=list)

    def expect(self, ok: bool, reason: str) -> None:
        if not ok:
            self.failures.append(reason)


async def check(rt: Runtime, expected: dict[tuple[str, str], set[str]], poisoned: int) -> Check:
    out = Check()
    completed = {
        (r["dealer_id"], r["source"]) for r in await rt.pool.fetch("SELECT dealer_id, source FROM feed_completions")
    }
    projected: dict[tuple[str, str], set[str]] = {}
    for r in await rt.pool.fetch(
        "SELECT o.dealer_id, o.source, o.vehicle_key FROM vehicle_observations o"
        " JOIN vehicles v USING (vehicle_id) WHERE v.status = 'available'"
    ):
        projected.setdefault((r["dealer_id"], r["source"]), set()).add(r["vehicle_key"])
    for pair, vins in sorted(expected.items()):
        if pair not in completed:
            out.never_completed += 1
            continue
        missing, extra = vins - projected.get(pair, set()), projected.get(pair, set()) - vins
        out.lost += len(missing)
        out.expect(not missing, f"{pair[0]} {pair[1]}: {len(missing)} served vehicles not projected")
        out.expect(not extra, f"{pair[0]} {pair[1]}: {len(extra)} vehicles projected that it did not serve")
    out.expect(out.lost == 0, f"{out.lost} vehicles lost")
    stuck = await cycle.backlog(rt)
    out.expect(stuck == 0, f"{stuck} messages, outbox rows or job runs still pending")
    open_runs = await rt.pool.fetchval("SELECT count(*) FROM job_runs WHERE NOT status = ANY($1::text[])", TERMINAL)
    out.expect(open_runs == 0, f"{open_runs} job runs did not end")
    letters = await rt.pool.fetch("SELECT consumer, count(*) AS n FROM dead_letters GROUP BY consumer")
    by_consumer = {r["consumer"]: r["n"] for r in letters}
    out.expect(
        by_consumer == ({"vehicle-projector": poisoned} if poisoned else {}),
        f"dead letters {by_consumer}, expected {poisoned} for the poison published",
    )
    return out


@dataclass(frozen=True)
class Plan:
    smoke: bool
    copies: int
    min_cycles: int
    max_cycles: int
    duration_s: float
    """Cycles go on (after ``min_cycles``) until this long has passed."""
    poison_per_cycle: int
    faults_per_source: int
    """At most this many requests misbehave per source (and path) per cycle."""

    @classmethod
    def of(cls, ctx: BenchContext) -> Plan:
        return cls(
            smoke=ctx.smoke,
            copies=ctx.size(100, 3),
            min_cycles=ctx.size(2, 2),
            max_cycles=ctx.size(50, 2),
            duration_s=ctx.size(300, 0),
            poison_per_cycle=ctx.size(5, 3),
            faults_per_source=ctx.size(40, 4),
        )


async def run(ctx: BenchContext) -> list[Figure]:
    plan = Plan.of(ctx)
    originals = example_dealers()
    sources = SampleSources(originals)
    await sources.start()
    try:
        dealers = copies(sources, originals, plan.copies)
        settings = soak_settings(sources, await ctx.settings(), len(dealers))
        rt = await Runtime.open(settings, name="od-bench-soak", pool_size=20)
        try:
            async with worker.running(rt):
                return await _soak(rt, plan, sources, dealers)
        finally:
            await rt.close()
    finally:
        await sources.close()


async def _soak(rt: Runtime, plan: Plan, sources: SampleSources, dealers: list[DealerChanged]) -> list[Figure]:
    rng = random.Random(SEED)
    faults = Faults()
    started = time.perf_counter()
    outcomes = await admin.upsert(rt, dealers, wait=120)
    pending = [o.dealer_id for o in outcomes if not o.applied]
    if pending:
        raise SoakFailed(f"the dealer projector did not apply {len(pending)} dealers, e.g. {pending[0]}")
    ids = [d.dealer_id for d in dealers]
    cycles = poisoned = 0
    while cycles < plan.min_cycles or (cycles < plan.max_cycles and time.perf_counter() - started < plan.duration_s):
        inject(rng, sources, faults, plan.faults_per_source)
        await poison(rt, rng, ids, plan.poison_per_cycle)
        poisoned += plan.poison_per_cycle
        await cycle.run_cycle(rt, ids, within=CYCLE_TIMEOUT_S)
        cycles += 1
    await cycle.settle(rt, CYCLE_TIMEOUT_S)
    duration = time.perf_counter() - started
    result = await check(rt, served(sources, dealers), poisoned)
    if result.failures:
        raise SoakFailed("; ".join(result.failures[:5]))
    jobs = await rt.pool.fetchrow(
        "SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed,"
        " coalesce(sum(attempts - 1) FILTER (WHERE attempts > 1), 0) AS retries FROM job_runs"
    )
    assert jobs is not None
    info = await rt.nc.jetstream().stream_info(rt.subjects.stream("OD_INVENTORY"))
    events = int(info.state.messages) - poisoned
    return [
        Figure(
            "soak.dealers", len(dealers), "dealers", target=f"{len(dealers) // plan.copies} examples x {plan.copies}"
        ),
        Figure("soak.cycles", cycles, "cycles"),
        Figure("soak.duration", duration, "s", target="< 60 s" if plan.smoke else ""),
        Figure("soak.events_processed", events, "events", target="inventory events projected"),
        Figure("soak.faults_injected", faults.used, "requests"),
        Figure("soak.poison_dead_lettered", poisoned, "events", target="= poison published"),
        Figure("soak.job_runs", jobs["runs"], "runs"),
        Figure("soak.job_retries", jobs["retries"], "attempts"),
        Figure("soak.jobs_failed", jobs["failed"], "runs"),
        Figure("soak.pulls_never_completed", result.never_completed, "pulls"),
        Figure("soak.events_lost", result.lost, "vehicles", target="0"),
    ]
