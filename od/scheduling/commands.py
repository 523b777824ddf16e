"""`od jobs status | graph | run | cleanup`: run history, a dealer's graph, a manual run, and
deleting old history, for operators."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from od.runtime import Runtime
from od.scheduling import store
from od.scheduling.graph import JOBS, STATUSES, dealer_graph
from od.scheduling.scheduler import RunInProgress, run_now
from od.scheduling.schedules import next_tick, schedule_for
from od.scheduling.store import DealerJobs, JobRun


def needs_servers(args: argparse.Namespace) -> bool:
    """``od jobs graph`` without ``--dealer`` prints the declared table: no servers needed."""
    return not (args.action == "graph" and not args.dealer)


async def jobs(args: argparse.Namespace, runtime: Runtime | None) -> int:
    if not needs_servers(args) or runtime is None:
        print("\n".join(graph_lines(None, datetime.now(UTC))))
        return 0
    if args.action == "status":
        if args.status and args.status not in STATUSES:
            raise SystemExit(f"od jobs status: --status must be one of {', '.join(STATUSES)}")
        runs = await store.history(
            runtime.pool, dealer_id=args.dealer, job=args.platform, status=args.status, limit=args.limit
        )
        if args.json:
            for run in runs:
                print(msgspec.json.encode(run).decode())
        else:
            print("\n".join(status_lines(runs)))
        return 0
    if args.action == "graph":
        dealer = (await store.load_dealers(runtime.pool, [args.dealer])).get(args.dealer)
        if dealer is None:
            raise SystemExit(f"od jobs graph: no dealer {args.dealer!r}")
        print("\n".join(graph_lines(dealer, datetime.now(UTC))))
        return 0
    if args.action == "run":
        try:
            ref = await run_now(runtime, args.dealer, args.job)
        except (LookupError, RunInProgress) as exc:
            raise SystemExit(f"od jobs run: {exc}") from None
        print(f"queued {ref.run_id}")
        return 0
    deleted = await store.cleanup(runtime.pool, retention_days=runtime.settings.jobs_retention_days)
    print(f"deleted {deleted} runs ended more than {runtime.settings.jobs_retention_days:g} days ago")
    return 0


def status_lines(runs: Sequence[JobRun]) -> list[str]:
    lines = [
        f"{'queued (UTC)':<19} {'dealer':<24} {'job':<15} {'status':<10} {'tries':>5}"
        f" {'found':>6} {'pub':>6} {'rej':>5}  cycle / error"
    ]
    for r in runs:
        counts = [r.vehicles_found, r.vehicles_published, r.vehicles_rejected]
        found, published, rejected = ("-" if c is None else str(c) for c in counts)
        lines.append(
            f"{r.queued_at:%Y-%m-%d %H:%M:%S} {r.dealer_id:<24} {r.job:<15} {r.status:<10} {r.attempts:>5}"
            f" {found:>6} {published:>6} {rejected:>5}  {r.cycle}{'  ' + r.error if r.error else ''}"
        )
    if not runs:
        lines.append("(no runs)")
    return lines


def graph_lines(dealer: DealerJobs | None, now: datetime) -> list[str]:
    """A dealer's graph (or, with none, the declared table): each job, what it waits for, its
    schedule (marked when the dealer overrides it), its next tick and its priority."""
    if dealer is None:
        title = "declared job table (a dealer has the jobs its platforms call for)"
        rows = [(job, job.depends_on, job.schedule, False) for job in JOBS]
    else:
        graph = dealer_graph(dealer.platforms)
        platforms = ", ".join(dealer.platforms) or "none"
        title = f"dealer {dealer.dealer_id} (platforms: {platforms})"
        rows = []
        for job in graph.jobs:
            cron = schedule_for(job, dealer.schedules)
            rows.append((job, graph.prereqs[job.name], cron, cron != job.schedule))
    lines = [title, f"  {'job':<15} {'after':<20} {'schedule (UTC)':<24} {'next tick':<20} priority"]
    for job, after, cron, overridden in rows:
        label = cron + (" (dealer)" if overridden else "")
        lines.append(
            f"  {job.name:<15} {', '.join(after) or '-':<20} {label:<24}"
            f" {next_tick(cron, now):%Y-%m-%d %H:%M}{'':<4} {job.priority}"
        )
    if dealer is not None and not rows:
        lines.append("  (no jobs: the dealer has no platform with a job)")
    return lines
