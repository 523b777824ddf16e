"""``od bench``: named benchmarks, each printing its figure beside a baseline measured in the
same run on the same servers (these machines are noisy; ratios are what we compare).

A benchmark is ``async def run(ctx: BenchContext) -> list[Figure]``, registered in
``BENCHMARKS`` as ``"module:function"``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from od.bench.context import BenchContext, Figure
from od.config import Settings

BENCHMARKS: dict[str, str] = {
    "api": "od.bench.api:run",
    "project": "od.bench.project:run",
    "replay": "od.bench.project:run_replay",
    "publish": "od.bench.publish:run",
    "normalize": "od.bench.normalize:run",
    "fetch_homenet": "od.bench.fetch:homenet",
    "scrape": "od.bench.fetch:scrape",
    "scheduler": "od.bench.scheduler:run",
    "indexnow": "od.bench.indexnow:run",
    "crash": "od.bench.crash:run",
    "soak": "od.bench.soak:run",
    "durability": "od.bench.durability:run",
}

Benchmark = Callable[[BenchContext], Awaitable[list[Figure]]]


def _resolve(name: str) -> Benchmark:
    try:
        module, _, func = BENCHMARKS[name].partition(":")
    except KeyError:
        raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None
    bench: Benchmark = getattr(importlib.import_module(module), func)
    return bench


async def run_benchmarks(names: list[str], *, smoke: bool, json_path: str | None, settings: Settings) -> int:
    selected = names or list(BENCHMARKS)
    benchmarks = {name: _resolve(name) for name in selected}
    figures: list[Figure] = []
    async with BenchContext.open(settings, smoke=smoke) as ctx:
        print(f"# od bench ({'smoke' if smoke else 'full'}) on {ctx.backend}")
        for name, bench in benchmarks.items():
            started = time.perf_counter()
            for figure in await bench(ctx):
                print(figure.line(), flush=True)
                figures.append(figure)
            print(f"#   {name} took {time.perf_counter() - started:.1f}s", flush=True)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps({f.name: f.as_json() for f in figures}, indent=2) + "\n")
    return 0
