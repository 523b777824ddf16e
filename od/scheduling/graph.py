"""The job graph: one table of job types with their prerequisites, default schedule and priority,
and the pure rule that decides when a dealer's waiting run may start.

A dealer's graph is the table restricted to the jobs its platforms call for. A prerequisite the
dealer does not have is replaced by that job's own prerequisites, so a dealer without HomeNet
scrapes at once and shortens links after the scrape. Dependencies never cross dealers: a run is
resolved against runs of its own dealer only.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

Status = Literal["waiting", "queued", "running", "succeeded", "failed", "blocked", "skipped"]
STATUSES: tuple[Status, ...] = ("waiting", "queued", "running", "succeeded", "failed", "blocked", "skipped")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "blocked", "skipped"})
"""A run in one of these states is over; it never changes again."""
UNSUCCESSFUL: frozenset[str] = frozenset({"failed", "blocked", "skipped"})
"""A prerequisite that ended like this blocks its dependants for the cycle."""


@dataclass(frozen=True)
class JobType:
    name: str
    depends_on: tuple[str, ...]
    schedule: str
    """Default cron expression (UTC); a dealer's config ``schedules`` may override it."""
    priority: int
    """Lower goes first when many runs are due at once."""
    platform: str | None
    """The dealer platform that calls for this job; ``None``: every dealer with a platform job."""


JOBS: tuple[JobType, ...] = (
    # job type        depends on        default schedule   priority  platform
    JobType("homenet", (), "0 6 * * *", 0, "homenet"),
    JobType("dealer_com", ("homenet",), "0 * * * *", 1, "dealer_com"),
    JobType("scrape", ("homenet",), "0 6 * * *", 2, "scrape"),
    JobType("url_shortening", ("scrape",), "0 6 * * *", 3, None),
)


class GraphError(ValueError):
    """The job table is not a DAG of known jobs; the message names the culprit."""


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts (``[a, b, a]``), or ``None``."""
    colour: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        path.append(node)
        for dep in edges.get(node, ()):
            if colour.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in colour and (cycle := visit(dep)):
                return cycle
        path.pop()
        colour[node] = 2
        return None

    for node in sorted(edges):
        if node not in colour and (cycle := visit(node)):
            return cycle
    return None


def check(table: Sequence[JobType]) -> dict[str, JobType]:
    """The table by job name, refused when a name repeats, a prerequisite is unknown or the
    prerequisites form a cycle (named, e.g. ``homenet → scrape → homenet``)."""
    by_name: dict[str, JobType] = {}
    for job in table:
        if job.name in by_name:
            raise GraphError(f"job {job.name!r} is declared twice")
        by_name[job.name] = job
    for job in table:
        unknown = [d for d in job.depends_on if d not in by_name]
        if unknown:
            raise GraphError(f"job {job.name!r} depends on unknown job(s) {', '.join(unknown)}")
    cycle = find_cycle({job.name: job.depends_on for job in table})
    if cycle:
        raise GraphError("job graph has a cycle: " + " → ".join(cycle))
    return by_name


@dataclass(frozen=True)
class DealerGraph:
    jobs: tuple[JobType, ...]
    """The dealer's jobs, prerequisites first (ties by priority)."""
    prereqs: Mapping[str, tuple[str, ...]]
    """Each job's prerequisites within this dealer's graph."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(job.name for job in self.jobs)

    def __contains__(self, job: object) -> bool:
        return job in self.prereqs

    def dependants(self, job: str) -> tuple[str, ...]:
        return tuple(name for name in self.names if job in self.prereqs[name])


def dealer_graph(platforms: Iterable[str], table: Sequence[JobType] = JOBS) -> DealerGraph:
    """The graph of a dealer with these platforms (order and repeats do not matter)."""
    return _dealer_graph(frozenset(platforms), tuple(table))


@functools.lru_cache(maxsize=256)
def _dealer_graph(platforms: frozenset[str], table: tuple[JobType, ...]) -> DealerGraph:
    by_name = check(table)
    chosen = {job.name for job in table if job.platform is not None and job.platform in platforms}
    if chosen:
        chosen |= {job.name for job in table if job.platform is None}

    def nearest(name: str) -> set[str]:
        """Prerequisites of ``name`` that the dealer has, looking through those it lacks."""
        found: set[str] = set()
        for dep in by_name[name].depends_on:
            found |= {dep} if dep in chosen else nearest(dep)
        return found

    prereqs = {name: tuple(sorted(nearest(name))) for name in chosen}
    return DealerGraph(_topological([by_name[n] for n in chosen], prereqs), prereqs)


def _topological(jobs: list[JobType], prereqs: Mapping[str, tuple[str, ...]]) -> tuple[JobType, ...]:
    by_name = {job.name: job for job in jobs}
    remaining = {name: len(deps) for name, deps in prereqs.items()}
    ready = [(job.priority, job.name) for job in jobs if remaining[job.name] == 0]
    heapq.heapify(ready)
    order: list[JobType] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(by_name[name])
        for other, deps in prereqs.items():
            if name in deps:
                remaining[other] -= 1
                if remaining[other] == 0:
                    heapq.heappush(ready, (by_name[other].priority, other))
    return tuple(order)


# --- when may a waiting run start? ---------------------------------------------------------------


class PrereqRun(NamedTuple):
    run_id: str
    status: str


@dataclass(frozen=True)
class Waiting:
    """A run waiting for its prerequisites, with, for each prerequisite job in its dealer's graph,
    that job's latest scheduled run at or before this one's tick (its current cycle), if any."""

    run_id: str
    job: str
    prereqs: Mapping[str, PrereqRun | None]


@dataclass(frozen=True)
class Blocked:
    reason: str


READY: Literal["ready"] = "ready"
Decision = Literal["ready"] | Blocked


def resolve(waiting: Sequence[Waiting]) -> dict[str, Decision]:
    """For the waiting runs of one dealer: which may start now (every prerequisite succeeded in
    its current cycle) and which are blocked (one failed, was skipped or is itself blocked, here
    or by a decision made in this same call). Runs left out keep waiting."""
    status = {w.run_id: "waiting" for w in waiting}
    decisions: dict[str, Decision] = {}
    changed = True
    while changed:
        changed = False
        for w in waiting:
            if w.run_id in decisions:
                continue
            decision = _decide(w, status)
            if decision is not None:
                decisions[w.run_id] = decision
                status[w.run_id] = "queued" if decision == READY else "blocked"
                changed = True
    return decisions


def _decide(w: Waiting, status: Mapping[str, str]) -> Decision | None:
    pending = False
    for job in sorted(w.prereqs):
        run = w.prereqs[job]
        if run is None:
            pending = True
            continue
        current = status.get(run.run_id, run.status)
        if current in UNSUCCESSFUL:
            return Blocked(f"prerequisite {job} {current} (run {run.run_id})")
        if current != "succeeded":
            pending = True
    return None if pending else READY
