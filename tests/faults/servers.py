"""Servers of a fault test's own, so stopping them disturbs no other test running in parallel.

A restart reuses the data directory and the port, as a real server restart does: clients
reconnect to the same URL.
"""

from __future__ import annotations

import asyncio
import signal

from od.embedded import EmbeddedNats, EmbeddedPostgres

Server = EmbeddedNats | EmbeddedPostgres


def crash(server: Server) -> None:
    """``kill -9``: no shutdown, no flush; what survives is what had reached the kernel."""
    assert server.process is not None, "server is not running"
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.process = None


async def restart(server: Server, *, kill: bool = False, down_for: float = 0.0) -> None:
    """Stop (gracefully, or with ``kill -9``), stay down ``down_for`` seconds, start on the same
    port. Runs in a thread so the test's clients keep running meanwhile."""
    await asyncio.to_thread(crash if kill else type(server).stop, server)
    if down_for:
        await asyncio.sleep(down_for)
    await asyncio.to_thread(server.start)
