"""``od demo [--once] [--port 8000]``: the steps, each announced and timed, then the API.

Everything runs in this process (workers as asyncio tasks, uvicorn in-process) except the
embedded servers. Ctrl-C (or SIGTERM) stops it at any step: the API stops accepting, the
workers finish their batch, the sample sources and the servers stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from tqdm import tqdm

from od import admin, worker
from od.api.app import create_app
from od.config import Settings
from od.demo import cycle, report
from od.demo.servers import prepare, servers
from od.demo.sources import SampleSources
from od.events import DealerChanged
from od.log import configure
from od.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dealers"
STEPS = 8
SETTLE_TIMEOUT_S = 300.0


class DemoFailed(Exception):
    """A check of ``--once`` failed (the message says which)."""


class _Steps:
    def __init__(self) -> None:
        self.n = 0

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        self.n += 1
        print(f"[{self.n}/{STEPS}] {what}…", end="", flush=True)
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            print(" failed", flush=True)
            raise
        print(f" done in {time.perf_counter() - started:.1f}s", flush=True)


class _Uvicorn(uvicorn.Server):
    """The API server without its own signal handlers: the demo's Ctrl-C stops everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def example_dealers(directory: Path = EXAMPLES) -> list[DealerChanged]:
    return [admin.load_file(path) for path in sorted(directory.glob("*.yaml"))]


async def run(base: Settings, *, once: bool, port: int, host: str = "127.0.0.1") -> int:
    base.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = base.data_dir / "demo.log"
    with log_path.open("a", encoding="utf-8") as log_file:
        # The terminal shows the steps; every process log line goes to the file.
        configure(base.log_level, "json", stream=log_file)
        print(f"Open Dealer demo (logs: {log_path})", flush=True)
        return await _run(base, once=once, port=port, host=host)


async def _run(base: Settings, *, once: bool, port: int, host: str) -> int:
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    serving = asyncio.Event()
    main = asyncio.create_task(_demo(base, once=once, port=port, host=host, interrupted=interrupted, serving=serving))
    stopper = asyncio.create_task(interrupted.wait())
    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not main.done() and not serving.is_set():
        # Ctrl-C during a step: cancel it, which unwinds every started part. While serving,
        # the demo stops on its own, in order.
        print("\nstopping…", flush=True)
        main.cancel()
    stopper.cancel()
    try:
        return await main
    except asyncio.CancelledError:
        print("stopped", flush=True)
        return 130


async def _demo(
    base: Settings, *, once: bool, port: int, host: str, interrupted: asyncio.Event, serving: asyncio.Event
) -> int:
    step = _Steps()
    dealers = example_dealers()
    async with contextlib.AsyncExitStack() as stack:
        where = "embedded" if not (base.nats_url and base.database_url) else "given"
        with step(f"NATS and PostgreSQL ({where}; data in {base.data_dir}/)"):
            found = await stack.enter_async_context(servers(base))
        with step("applying streams and migrations"):
            await prepare(base.replace(nats_url=found.nats_url, database_url=found.database_url))
        sources = SampleSources(dealers)
        with step(f"starting {len(sources.servers)} local sample sources (HomeNet, Dealer.com, web sites, …)"):
            await sources.start()
            stack.push_async_callback(sources.close)
        settings = sources.settings(
            base.replace(
                nats_url=found.nats_url, database_url=found.database_url, public_base_url=f"http://{host}:{port}"
            )
        )
        rt = await Runtime.open(settings, name="od-demo", pool_size=10)
        stack.push_async_callback(rt.close)
        with step(f"starting the workers ({', '.join(worker.KINDS)})"):
            await stack.enter_async_context(worker.running(rt, drain_s=15.0))
        with step(f"publishing {len(dealers)} dealers"):
            outcomes = await admin.upsert(rt, [sources.wire(d) for d in dealers], wait=30)
            pending = [o.dealer_id for o in outcomes if not o.applied]
            if pending:
                raise DemoFailed(f"the dealer projector did not apply {', '.join(pending)}")
        ids = [d.dealer_id for d in dealers]
        total = cycle.total_jobs([d.platforms for d in dealers])
        with step(f"one full cycle: {total} jobs through the fetchers"):
            print(flush=True)
            with tqdm(total=total, unit="job", leave=False, file=sys.stderr) as bar:

                def ended(o: cycle.JobOutcome) -> None:
                    bar.update()
                    bar.set_postfix_str(f"{o.dealer_id} {o.job} {o.status}")

                runs = await cycle.run_cycle(rt, ids, within=SETTLE_TIMEOUT_S, on_end=ended)
        for o in sorted(runs, key=lambda o: (o.dealer_id, o.job)):
            if o.found is None:
                detail = ""
            elif o.job == "url_shortening":  # it reads the projection and publishes nothing
                detail = f"{o.found} vehicles checked"
            else:
                detail = f"{o.published} published of {o.found} found"
            print(f"      {o.dealer_id:<22} {o.job:<15} {o.status:<10} {detail}{o.error or ''}", flush=True)
        with step("waiting for projections and enrichment to settle"):
            await cycle.settle(rt, SETTLE_TIMEOUT_S)
        api = f"http://{host}:{port}"
        server = _Uvicorn(
            uvicorn.Config(create_app(settings), host=host, port=port, lifespan="on", access_log=False, log_config=None)
        )
        with step(f"serving the API on {api}"):
            api_task = asyncio.create_task(server.serve(), name="od-demo-api")
            stack.push_async_callback(_stop_server, server, api_task)
            while not server.started:
                if api_task.done():
                    api_task.result()
                    raise DemoFailed(f"the API did not start on {api}")
                await asyncio.sleep(0.05)
        await _summary(rt, api, settings, ids, sources)
        failed_jobs = [f"{o.dealer_id} {o.job}: {o.status} {o.error or ''}" for o in runs if o.status != "succeeded"]
        multi = [d.dealer_id for d in dealers if len(d.platforms) > 1]
        failures = failed_jobs + await report.check(api, ids, multi)
        if once and failures:
            raise DemoFailed(failures[0])
        for failure in failures:
            print(f"warning: {failure}")
        if not failures:
            print("checks passed: every dealer has vehicles in the API, merged across sources, nearby search works")
        if once:
            return 0
        print("\nPress Ctrl-C to stop.", flush=True)
        serving.set()
        await interrupted.wait()
        print("\nstopping…", flush=True)
    print("stopped", flush=True)
    return 0


async def _stop_server(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(serving, 10)
    except (TimeoutError, asyncio.CancelledError):
        serving.cancel()


async def _summary(
    rt: Runtime,
    api: str,
    settings: Settings,
    dealer_ids: list[str],
    sources: SampleSources,
) -> None:
    counts = await report.counts(rt.pool)
    found = await report.conflicts(rt.pool)
    first = await rt.pool.fetchval(
        "SELECT vehicle_id FROM vehicles WHERE dealer_id = $1 AND status = 'available' AND cardinality(sources) > 1"
        " ORDER BY vehicle_id LIMIT 1",
        "lakeside-honda",
    ) or await rt.pool.fetchval("SELECT vehicle_id FROM vehicles ORDER BY vehicle_id LIMIT 1")
    print()
    print("Vehicles per dealer and source:")
    for dealer_id in dealer_ids:
        per_source = ", ".join(f"{s} {n}" for s, n in sorted(counts.by_source.get(dealer_id, {}).items()))
        print(
            f"  {dealer_id:<22} {counts.vehicles.get(dealer_id, 0):>4} vehicles"
            f" ({counts.merged.get(dealer_id, 0)} merged from several sources)   {per_source}"
        )
    print()
    print(f"Merge conflicts resolved: {len(found)} (fields where sources disagreed; the source the record shows)")
    for line in report.conflict_lines(found):
        print(line)
    print()
    print("Open:")
    print(f"  {api}/v1/dealers")
    for dealer_id in dealer_ids:
        print(f"  {api}/v1/vehicles?dealer_id={dealer_id}")
    if first:
        print(f"  curl -H 'Accept: application/ld+json' {api}/v1/vehicles/{first}")
    print(f"  {api}{report.NEARBY}")
    print(f"  {api}/v1/feeds/vehicles.ndjson")
    print(f"  {api}/sitemap.xml")
    print(f"  {api}/metrics")
    print(f"  {api}/openapi.json")
    print()
    print("Other `od` commands against this demo (in another terminal):")
    env = f"OD_NATS_URL={settings.nats_url} OD_DATABASE_URL={settings.database_url}"
    if settings.namespace:
        env += f" OD_NAMESPACE={settings.namespace}"
    print(f"  {env} od dealer list")
    print(f"  {env} od jobs status")
    print(
        f"Short links made: {len(sources.rebrandly.links)}; IndexNow URLs submitted: {len(sources.indexnow.urls)};"
        f" geocoder queries: {len(sources.geocoder.queries)}"
    )
    print(flush=True)
