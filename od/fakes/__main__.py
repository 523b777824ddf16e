"""``python -m od.fakes {homenet,dealer_com,site} [--vehicles N] [--port P]``: serve one fake
until interrupted, printing its URL on the first line (benchmarks read it from there)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from od.fakes import FakeDealerCom, FakeDealerSite, FakeHomeNet, FakeServer, generate
from od.fakes.dealer_site import PERMISSIVE_ROBOTS


def build(kind: str, vehicles: int, seed: int) -> FakeServer:
    inventory = generate(vehicles, seed=seed)
    if kind == "homenet":
        return FakeHomeNet({"rooftop-1": list(inventory)})
    if kind == "dealer_com":
        return FakeDealerCom(inventory)
    site = FakeDealerSite(inventory)
    site.robots_txt = PERMISSIVE_ROBOTS
    return site


async def serve(kind: str, vehicles: int, seed: int, port: int) -> None:
    server = await build(kind, vehicles, seed).start(port)
    try:
        print(server.url, flush=True)
        await asyncio.Event().wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m od.fakes", description=__doc__)
    parser.add_argument("kind", choices=["homenet", "dealer_com", "site"])
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.kind, args.vehicles, args.seed, args.port))


if __name__ == "__main__":
    main()
