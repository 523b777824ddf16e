"""The read API under load: N vehicles across dealers seeded with COPY, ``od api`` (uvicorn)
in a subprocess, an aiohttp load generator in another process, on loopback.

Per scenario (filtered ``/v1/vehicles``, ``/v1/vehicles/nearby``, and ``GET /healthz`` as the
baseline: what the stack answers doing no work, in the same run): the most requests/s a closed
loop gets, the p99 at an offered 1,000 requests/s (open loop), and the server's CPU per request
(steadier than wall-clock figures on a shared machine). Then the full NDJSON feed: vehicles/s,
CPU per vehicle, and the server's memory growth while streaming it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import random
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import psutil

from od.bench.context import BenchContext, Figure
from od.bench.data import MAKES, synthetic_vin
from od.config import Settings

CONCURRENCY = 16
TARGET_RATE = 1000
"""Requests/s offered in the open-loop run whose p99 is reported (the target's rate)."""
US = ((25.0, 49.0), (-124.0, -67.0))
T0 = datetime(2026, 11, 1, tzinfo=UTC)
VEHICLE_COLUMNS = [
    "vehicle_id", "dealer_id", "vin", "stock_number", "year", "make", "model", "trim", "body_style", "drivetrain",
    "transmission", "engine", "fuel_type", "exterior_color", "interior_color", "condition", "mileage", "price",
    "msrp", "currency", "images", "options", "description", "dealer_url", "date_in_stock", "status", "sources",
    "first_seen_at", "updated_at",
]  # fmt: skip


def dealer_rows(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        lat, lng = rng.uniform(*US[0]), rng.uniform(*US[1])
        yield (
            f"dealer-{i:05d}", f"Dealer {i} Motors", f"dealer-{i}.example", f"{i} Main St", "Springfield", "PA",
            "19000", "US", "+1 555 0100", lat, lng, "explicit", ["homenet", "scrape"], f"bench-{i}", T0, T0,
        )  # fmt: skip


DEALER_COLUMNS = [
    "dealer_id", "name", "domain", "street", "city", "region", "postal_code", "country", "phone", "lat", "lng",
    "location_source", "platforms", "event_id", "event_at", "updated_at",
]  # fmt: skip


def vehicle_rows(n: int, dealers: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Realistic records (~20 image URLs, options, a description): ~2.5 KB of JSON each."""
    makes = list(MAKES)
    for i in range(n):
        dealer = f"dealer-{i % dealers:05d}"
        vin = synthetic_vin(rng)
        make = rng.choice(makes)
        model = rng.choice(MAKES[make])
        year = rng.randint(2015, 2026)
        price = rng.randint(12_000, 85_000)
        base = f"https://images.example-dealer.test/{dealer}/{vin}"
        yield (
            f"{dealer}:{vin}", dealer, vin, f"S{i:07d}", year, make, model,
            rng.choice(["LX", "EX", "EX-L", "Sport", "Touring", "XLE", "Limited"]),
            rng.choice(["Sedan", "SUV", "Pickup", "Coupe", "Hatchback"]), rng.choice(["FWD", "AWD", "4WD", "RWD"]),
            rng.choice(["Automatic", "CVT", "Manual"]), "2.0L I4 DOHC 16V", rng.choice(["Gasoline", "Hybrid"]),
            rng.choice(["Crystal Black Pearl", "Platinum White Pearl"]), rng.choice(["Black", "Gray", "Ivory"]),
            rng.choice(["new", "used", "certified"]), rng.randint(0, 120_000), Decimal(f"{price}.00"),
            Decimal(f"{price + 1500}.00"), "USD", [f"{base}/{k:02d}.jpg" for k in range(rng.randint(15, 25))],
            ["Apple CarPlay", "Heated Seats", "Backup Camera", "Blind Spot Monitor", "Sunroof"],
            f"{year} {make} {model} in great condition. One owner, clean history. " * 3,
            f"https://www.{dealer}.example/inventory/{vin}", date(2026, 10, 1) + timedelta(days=i % 30),
            "sold" if i % 20 == 0 else "available", ["homenet", "scrape"], T0, T0 + timedelta(seconds=i),
        )  # fmt: skip


async def seed(database_url: str, vehicles: int, dealers: int) -> None:
    rng = random.Random(11)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table("dealers", records=dealer_rows(dealers, rng), columns=DEALER_COLUMNS)
        batch = 50_000
        rows = vehicle_rows(vehicles, dealers, rng)
        for _ in range(0, vehicles, batch):
            chunk = [row for _, row in zip(range(batch), rows, strict=False)]
            await conn.copy_records_to_table("vehicles", records=chunk, columns=VEHICLE_COLUMNS)
        await conn.execute("VACUUM ANALYZE dealers")
        await conn.execute("VACUUM ANALYZE vehicles")
    finally:
        await conn.close()


def vehicle_queries(rng: random.Random, dealers: int, n: int = 500) -> list[str]:
    """What sites ask: make and model, with a year or price bound, a dealer's stock, a condition."""
    queries = []
    for _ in range(n):
        make = rng.choice(list(MAKES))
        model = rng.choice(MAKES[make])
        queries.append(
            rng.choice(
                [
                    f"/v1/vehicles?make={make}&model={model}",
                    f"/v1/vehicles?make={make}&model={model}&year_min={rng.randint(2016, 2024)}",
                    f"/v1/vehicles?make={make}&price_max={rng.randint(20, 60)}000",
                    f"/v1/vehicles?dealer_id=dealer-{rng.randrange(dealers):05d}",
                    f"/v1/vehicles?make={make}&condition={rng.choice(['new', 'used', 'certified'])}",
                    f"/v1/vehicles?price_min={rng.randint(20, 60)}000&year_min={rng.randint(2016, 2024)}",
                ]
            )
        )
    return queries


def nearby_queries(rng: random.Random, n: int = 500) -> list[str]:
    queries = []
    for _ in range(n):
        lat, lng = rng.uniform(*US[0]), rng.uniform(*US[1])
        radius = rng.choice([10, 25, 50, 100, 250, 500])
        extra = rng.choice(["", "", f"&make={rng.choice(list(MAKES))}", "&condition=used"])
        queries.append(f"/v1/vehicles/nearby?lat={lat:.4f}&lng={lng:.4f}&radius_km={radius}{extra}")
    return queries


def load(url: str, paths: list[str], seconds: float, concurrency: int, rate: float | None = None) -> LoadResult:
    """In its own process, for ``seconds``: ``concurrency`` clients back to back (closed loop:
    the most the server answers), or with ``rate``, requests started on a fixed schedule
    whatever the answers (open loop; latency counted from the scheduled start, so a server
    falling behind shows in p99 instead of slowing the generator down)."""

    async def main() -> LoadResult:
        latencies: list[float] = []
        errors = 0
        started = time.perf_counter()
        deadline = started + seconds
        connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 0)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(path: str, since: float) -> None:
                nonlocal errors
                async with http.get(url + path) as resp:
                    await resp.read()
                    ok = resp.status == 200
                if ok:
                    latencies.append(time.perf_counter() - since)
                else:
                    errors += 1

            async def client(k: int) -> None:
                i = k
                while time.perf_counter() < deadline:
                    await one(paths[i % len(paths)], time.perf_counter())
                    i += concurrency

            if rate is None:
                await asyncio.gather(*(client(k) for k in range(concurrency)))
            else:
                tasks = []
                for i in range(int(seconds * rate)):
                    at = started + i / rate
                    await asyncio.sleep(max(0.0, at - time.perf_counter()))
                    tasks.append(asyncio.create_task(one(paths[i % len(paths)], at)))
                await asyncio.gather(*tasks)
        return LoadResult(len(latencies), errors, time.perf_counter() - started, latencies)

    return asyncio.run(main())


@dataclass
class LoadResult:
    ok: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise RuntimeError(f"od api exited with {proc.returncode}")
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("od api did not answer /healthz")


async def _feed(url: str, proc: psutil.Process) -> tuple[float, int, float]:
    """Streams the whole feed; returns (vehicles/s, vehicles, server RSS growth in MB)."""
    rss_before = proc.memory_info().rss
    peak = rss_before
    lines = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http, http.get(url + "/v1/feeds/vehicles.ndjson") as resp:
        assert resp.status == 200, resp.status
        async for chunk in resp.content.iter_chunked(1 << 20):
            lines += chunk.count(b"\n")
            peak = max(peak, proc.memory_info().rss)
    elapsed = time.perf_counter() - started
    return lines / elapsed, lines, (peak - rss_before) / 1e6


async def run(ctx: BenchContext) -> list[Figure]:
    vehicles, dealers = ctx.size(1_000_000, 20_000), ctx.size(20_000, 400)
    seconds = ctx.size(10, 2)
    settings: Settings = await ctx.settings()
    started = time.perf_counter()
    await seed(str(settings.database_url), vehicles, dealers)
    print(f"#   api: seeded {vehicles:,} vehicles / {dealers:,} dealers in {time.perf_counter() - started:.1f}s")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = settings.child_env({"OD_LOG_LEVEL": os.environ.get("OD_BENCH_API_LOG_LEVEL", "warning")})
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "od.cli", "api", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    rng = random.Random(5)
    scenarios = {
        "healthz": ["/healthz"],
        "vehicles_filtered": vehicle_queries(rng, dealers),
        "nearby": nearby_queries(rng),
    }
    results: dict[str, tuple[LoadResult, LoadResult, float]] = {}
    try:
        await _wait_healthy(url, server)
        process = psutil.Process(server.pid)
        loop = asyncio.get_running_loop()
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as generator:
            for name, paths in scenarios.items():
                await loop.run_in_executor(generator, load, url, paths, 1.0, CONCURRENCY)  # warm-up
                cpu = sum(process.cpu_times()[:2])
                most = await loop.run_in_executor(generator, load, url, paths, seconds, CONCURRENCY)
                cpu_ms = (sum(process.cpu_times()[:2]) - cpu) / max(most.ok, 1) * 1000
                held = await loop.run_in_executor(generator, load, url, paths, seconds, CONCURRENCY, TARGET_RATE)
                if most.errors or held.errors:
                    raise RuntimeError(f"{name}: {most.errors + held.errors} requests failed")
                results[name] = (most, held, cpu_ms)
        cpu = sum(process.cpu_times()[:2])
        feed_rate, feed_lines, feed_rss = await _feed(url, process)
        feed_cpu_us = (sum(process.cpu_times()[:2]) - cpu) / max(feed_lines, 1) * 1e6
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)
    base, base_held, base_cpu = results["healthz"]
    figures = [
        Figure("api.healthz", base.rate, "req/s"),
        Figure(f"api.healthz.p99_at_{TARGET_RATE}", base_held.p99_ms, "ms"),
        Figure("api.healthz.server_cpu", base_cpu, "ms/req"),
    ]
    for name in ("vehicles_filtered", "nearby"):
        most, held, cpu_ms = results[name]
        figures += [
            Figure(f"api.{name}", most.rate, "req/s", base.rate, target=">= 1,000 req/s"),
            Figure(f"api.{name}.p99_at_{TARGET_RATE}", held.p99_ms, "ms", base_held.p99_ms, target="<= 25 ms"),
            Figure(f"api.{name}.server_cpu", cpu_ms, "ms/req", base_cpu),
        ]
    return [
        *figures,
        Figure("api.feed_ndjson", feed_rate, "vehicles/s", target=">= 50,000 vehicles/s"),
        Figure("api.feed_ndjson.server_cpu", feed_cpu_us, "us/vehicle"),
        Figure("api.feed_ndjson.rss_growth", feed_rss, "MB", target=f"flat ({feed_lines:,} vehicles)"),
    ]
