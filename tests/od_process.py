"""Running ``od`` as an operator does: a real process on the test's servers and namespace."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from od.config import Settings

ROOT = Path(__file__).resolve().parents[1]


async def run_od(settings: Settings, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``od ARGS`` to its end (a minute at most): (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "od.cli", *args, env=settings.child_env(env), cwd=ROOT, stdout=-1, stderr=-1
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_od(settings: Settings, *args: str, env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
    """``od ARGS`` left running (a worker, the API)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "od.cli", *args, env=settings.child_env(env), cwd=ROOT
    )
