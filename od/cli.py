"""``od``: the one entry point. Each command parses its flags here and calls into its module.

Every command exits non-zero with a one-line reason on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec

from od.config import Settings
from od.log import configure, get_logger

log = get_logger("od")


def _run(coro: Coroutine[Any, Any, int | None]) -> int:
    return asyncio.run(coro) or 0


def _stop_event() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM: long-running commands finish their batch and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _with_runtime(settings: Settings, name: str, body: Callable[[Any], Awaitable[int | None]]) -> int | None:
    from od.runtime import Runtime

    runtime = await Runtime.open(settings, name=name)
    try:
        return await body(runtime)
    finally:
        await runtime.close()


# --- foundation ------------------------------------------------------------------------------


async def cmd_streams(args: argparse.Namespace, settings: Settings) -> int:
    from od import bus, streams
    from od.events import Subjects

    spec = streams.with_replicas(streams.load(Path(args.file)), settings.stream_replicas)
    subjects = Subjects(settings.namespace)
    if args.action == "export":
        for path in streams.export(spec, subjects, Path(args.dir)):
            print(path)
        return 0
    if not settings.nats_url:
        raise SystemExit("OD_NATS_URL is not set")
    nc = await bus.connect(settings.nats_url, name="od-streams")
    try:
        changes = await streams.apply(nc, spec, subjects)
    finally:
        await nc.close()
    print("\n".join(changes) if changes else "streams: up to date, nothing changed")
    return 0


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncpg

    from od import migrate

    if not settings.database_url:
        raise SystemExit("OD_DATABASE_URL is not set")
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await migrate.migrate(conn, Path(args.dir))
    finally:
        await conn.close()
    print("\n".join(f"applied {name}" for name in applied) if applied else "migrations: up to date")
    return 0


def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "schema":
        return cmd_events_schema(args, settings)
    from od.events import asyncapi

    if args.action == "asyncapi":
        text = asyncapi.to_yaml(asyncapi.document())
    else:
        generated = asyncapi.reference_markdown()
        text = asyncapi.replace_generated(Path(args.out).read_text(), generated) if args.out else generated
    if args.out:
        Path(args.out).write_text(text)
        print(args.out)
    else:
        print(text, end="")
    return 0


def cmd_events_schema(args: argparse.Namespace, settings: Settings) -> int:
    from od.events.schema import event_schemas

    schemas = event_schemas()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
            print(out / f"{name}.schema.json")
    else:
        print(json.dumps(schemas, indent=2))
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from od import worker

    stop = _stop_event()

    async def body(runtime: Any) -> None:
        await worker.run(runtime, stop, args.only)

    await _with_runtime(settings, "od-worker", body)
    return 0


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    from od.api.serve import serve

    # On uvloop, which uvicorn cannot choose itself when started inside a running loop.
    uvloop.run(serve(settings, host=args.host, port=args.port))
    return 0


async def cmd_dealer(args: argparse.Namespace, settings: Settings) -> int:
    from od import admin

    wait = admin.DEFAULT_WAIT_S if getattr(args, "wait", None) is None else args.wait
    if args.action == "upsert":
        events = [admin.load_file(Path(f)) for f in args.files]  # every file valid before any publish

    async def body(rt: Any) -> int:
        if args.action == "list":
            dealers = await admin.list_dealers(rt.pool, include_deleted=args.all)
            print(json.dumps(msgspec.to_builtins(dealers), indent=2) if args.json else admin.format_table(dealers))
            return 0
        if args.action == "upsert":
            outcomes = await admin.upsert(rt, events, wait=wait)
        else:
            outcomes = [await admin.delete(rt, args.dealer_id, wait=wait)]
        for o in outcomes:
            if o.applied:
                print(f"{o.operation} {o.dealer_id}: applied (event {o.event_id})")
        pending = [o for o in outcomes if not o.applied]
        if pending:
            raise admin.NotApplied(pending[0], wait)
        return 0

    return await _with_runtime(settings, "od-dealer", body) or 0


async def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from od.scheduling import scheduler

    stop = _stop_event()

    async def body(runtime: Any) -> None:
        await scheduler.run(runtime, stop)

    await _with_runtime(settings, "od-scheduler", body)
    return 0


async def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from od.scheduling import commands

    if not commands.needs_servers(args):
        return await commands.jobs(args, None)
    return await _with_runtime(settings, "od-jobs", lambda runtime: commands.jobs(args, runtime)) or 0


async def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from od.fetchers.run import run_fetch

    async def body(runtime: Any) -> None:
        summary = await run_fetch(runtime, args.dealer, args.source, full=not args.incremental, location=args.csv)
        print(msgspec.json.format(msgspec.json.encode(summary)).decode())

    await _with_runtime(settings, "od-fetch", body)
    return 0


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from od.projections.replay import StreamBehind, replay

    async def body(rt: Any) -> None:
        try:
            result = await replay(
                args.projection, rt.pool, rt.nc, rt.subjects, batch=args.batch, progress=not args.no_progress
            )
        except StreamBehind as exc:
            raise SystemExit(f"replay {args.projection} stopped: {exc}") from None
        print(
            f"replay {args.projection}: {result.events:,} events ({result.skipped:,} skipped) up to stream sequence "
            f"{result.last_seq:,} in {result.seconds:.1f}s ({result.rate:,.0f} events/s); swapped in"
        )

    await _with_runtime(settings, "od-replay", body)
    return 0


async def cmd_deadletters(args: argparse.Namespace, settings: Settings) -> int:
    from od.handlers import deadletters

    async def body(rt: Any) -> int:
        if args.action == "list":
            for d in await deadletters.listing(rt.pool, consumer=args.consumer, replayed=args.all, limit=args.limit):
                replayed = f" replayed {d.replayed_at:%Y-%m-%d %H:%M:%SZ}" if d.replayed_at else ""
                print(
                    f"{d.id}\t{d.created_at:%Y-%m-%d %H:%M:%SZ}\t{d.consumer}\t{d.stream}:{d.stream_seq}"
                    f"\t{d.subject}\t{d.reason}{replayed}"
                )
            return 0
        if not args.all and not args.id:
            raise SystemExit("od deadletters replay: give --id N (repeatable) or --all")
        done = await deadletters.replay(rt.pool, rt.publisher, None if args.all else args.id)
        print(f"replayed {len(done)} dead letter(s)" + (f": {', '.join(map(str, done))}" if done else ""))
        return 0

    return await _with_runtime(settings, "od-deadletters", body) or 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from od.demo.main import run

    return await run(settings, once=args.once, port=args.port)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from od.bench import run_benchmarks

    return _run(run_benchmarks(args.names, smoke=args.smoke, json_path=args.json, settings=settings))


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="od", description="Open Dealer: dealer inventory on an event log")
    parser.add_argument("--log-level", default=None, help="debug, info, warning (default: OD_LOG_LEVEL or info)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("streams", help="create/update JetStream streams and consumers from streams.yaml")
    p.add_argument("action", choices=["apply", "export"])
    p.add_argument("--file", default=str(_default("streams.yaml")))
    p.add_argument("--dir", default="build/streams", help="where `export` writes the nats CLI files")
    p.set_defaults(func=cmd_streams)

    p = sub.add_parser("migrate", help="apply migrations/ to OD_DATABASE_URL")
    p.add_argument("--dir", default=str(_default("migrations")))
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "events", help="event types: `od events schema [--out DIR]`, `asyncapi [--out FILE]`, `docs [--out FILE]`"
    )
    p.add_argument("action", choices=["schema", "asyncapi", "docs"])
    p.add_argument(
        "--out",
        default=None,
        help="schema: write one JSON Schema file per event into DIR; asyncapi: write the AsyncAPI document "
        "to FILE; docs: update the generated reference in FILE (e.g. docs/events.md)",
    )
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("worker", help="run the consumers (projectors, enrichment)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this kind (repeatable)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("api", help="serve the read API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("dealer", help="publish DealerChanged and wait for the projection: upsert, delete, list")
    dealer = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = dealer.add_parser("upsert", help="create or update dealers from YAML or JSON files")
    d.add_argument("files", nargs="+", metavar="FILE")
    d = dealer.add_parser("delete", help="delete a dealer by id")
    d.add_argument("dealer_id", metavar="ID")
    for d in dealer.choices.values():
        d.add_argument("--wait", type=float, metavar="SECONDS", help="how long to wait for the worker (default 10)")
    d = dealer.add_parser("list", help="the dealers projection")
    d.add_argument("--all", action="store_true", help="include deleted dealers")
    d.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=cmd_dealer)

    p = sub.add_parser("scheduler", help="run scheduled feed pulls: create due job runs, queue them in graph order")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("jobs", help="job runs: status, graph, run (manual), cleanup")
    jobs = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    j = jobs.add_parser("status", help="run history, newest first")
    j.add_argument("--dealer", default=None, metavar="ID")
    j.add_argument("--platform", default=None, metavar="JOB", help="homenet, dealer_com, scrape, url_shortening")
    j.add_argument("--status", default=None, help="waiting, queued, running, succeeded, failed, blocked, skipped")
    j.add_argument("--limit", type=int, default=50)
    j.add_argument("--json", action="store_true", help="one JSON object a line")
    j = jobs.add_parser("graph", help="a dealer's job graph and schedules (without --dealer: the declared table)")
    j.add_argument("--dealer", default=None, metavar="ID")
    j = jobs.add_parser("run", help="queue a manual run of one dealer's job now")
    j.add_argument("--dealer", required=True, metavar="ID")
    j.add_argument("--job", required=True, help="homenet, dealer_com, scrape, url_shortening")
    jobs.add_parser("cleanup", help="delete ended runs older than OD_JOBS_RETENTION_DAYS")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("fetch", help="pull one dealer's inventory from one source now and print the run summary")
    p.add_argument("--dealer", required=True, metavar="ID")
    p.add_argument("--source", required=True, help="homenet, homenet_csv, dealer_com or scrape")
    p.add_argument("--incremental", action="store_true", help="only what changed since the last pull (HomeNet)")
    p.add_argument("--csv", default=None, metavar="PATH|URL", help="the export to read (homenet_csv)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "replay",
        help="rebuild a projection from its stream into fresh tables and swap it in atomically",
        description="Rebuild a projection from its stream while the live tables keep serving, then swap "
        "it in atomically: `vehicles` (vehicles, vehicle_observations, feed_completions from OD_INVENTORY) "
        "or `dealers` (dealers from OD_DEALERS). Events the live projector dead-lettered are skipped; "
        "what other workers wrote (short links, geocoded locations) is kept. See docs/replay.md.",
    )
    p.add_argument("projection", choices=["vehicles", "dealers"], help="vehicles or dealers")
    p.add_argument(
        "--batch",
        type=int,
        default=6000,
        help="events fetched at a time, applied as three transactions split by dealer (default 6000)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("deadletters", help="events consumers could not apply: list, replay after a fix")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("--consumer", default=None, help="list: only this consumer's")
    p.add_argument("--limit", type=int, default=100, help="list: at most this many, newest first")
    p.add_argument("--id", type=int, action="append", metavar="N", help="replay: this dead letter (repeatable)")
    p.add_argument("--all", action="store_true", help="list: include replayed ones; replay: every pending one")
    p.set_defaults(func=cmd_deadletters)

    p = sub.add_parser("demo", help="everything on one machine: servers, sample dealers and sources, a cycle, the API")
    p.add_argument("--once", action="store_true", help="run one cycle, check the API, print, exit (CI)")
    p.add_argument("--port", type=int, default=8000, help="the API's port on 127.0.0.1 (default 8000)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="run benchmarks and print figures beside their baselines")
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    p.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    p.set_defaults(func=cmd_bench, quiet_logs=True)  # figures on stdout, only warnings in between

    return parser


def _default(name: str) -> Path:
    """Files of the project (streams.yaml, migrations/), found from the working directory first."""
    local = Path.cwd() / name
    return local if local.exists() else Path(__file__).resolve().parent.parent / name


GC_THRESHOLDS = (100_000, 20, 10)
"""Collect the youngest generation after 100,000 new container objects, not 700. A projector
batch keeps thousands of decoded events and vehicle states alive until it commits, and at
Python's default every few dozen events went through a collection that freed next to nothing: ~10%
of a worker's CPU (`od bench project`, two workers: 142-150 -> 128-132 µs per event). Memory
still stays bounded: most objects are freed by reference counting, and the older generations
are still collected, after 2 and 20 million allocations."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    settings = Settings.from_env()
    level = (
        args.log_level or os.environ.get("OD_LOG_LEVEL") or ("warning" if getattr(args, "quiet_logs", False) else None)
    )
    configure(level or settings.log_level, settings.log_format)
    try:
        result = args.func(args, settings)
        if asyncio.iscoroutine(result):
            result = _run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # one line, not a traceback, for operators
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"od {args.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
