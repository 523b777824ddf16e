"""Dealer administration for ``od dealer`` and the admin API: publish ``DealerChanged`` and
wait until the dealers projection shows it.

Publishing alone is not enough for an operator: the event is on the log, but nothing tells
them whether a worker applied it. So every change waits (bounded) for the row of
``dealers`` that carries its ``event_id``, and says plainly when no projector took it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import asyncpg
import msgspec

from od.events import DealerChanged
from od.events.dealer_file import DealerFileError, parse_dealer
from od.runtime import Runtime

DEFAULT_WAIT_S = 10.0
POLL_INTERVAL_S = 0.05


class UnknownDealer(LookupError):
    """No such dealer in the projection."""


class NotApplied(TimeoutError):
    """Published (durably on the log) but not yet visible in the dealers projection."""

    def __init__(self, outcome: DealerChangeResult, waited: float) -> None:
        self.outcome = outcome
        super().__init__(
            f"{outcome.operation} of `{outcome.dealer_id}` published (event {outcome.event_id}, stream sequence "
            f"{outcome.stream_seq}), but the dealer projector has not applied it within {waited:g}s: "
            "is `od worker` running?"
        )


class DealerChangeResult(msgspec.Struct, kw_only=True):
    """What became of one change: applied by the projector, or still pending."""

    dealer_id: str
    operation: str
    event_id: str
    stream_seq: int
    applied: bool


class DealerRow(msgspec.Struct, kw_only=True):
    """A row of the dealers projection, as ``od dealer list`` shows it."""

    dealer_id: str
    name: str
    city: str | None
    region: str | None
    platforms: list[str]
    lat: float | None
    lng: float | None
    location_source: str | None
    price_preference: str
    event_id: str
    updated_at: datetime
    deleted_at: datetime | None


def load_file(path: Path) -> DealerChanged:
    """A dealer file (``.json`` is JSON, anything else YAML) as a validated upsert."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DealerFileError(exc.strerror or "cannot read the file", source=str(path)) from None
    return parse_dealer(text, source=str(path), fmt="json" if path.suffix.lower() == ".json" else "yaml")


async def publish_and_wait(rt: Runtime, event: DealerChanged, *, wait: float = DEFAULT_WAIT_S) -> DealerChangeResult:
    """Publish ``event`` and wait up to ``wait`` seconds for the projection to show it;
    ``applied`` tells which (the event stays on the log either way)."""
    ack = await rt.publisher.publish(event)
    applied = await _wait_applied(rt.pool, event, wait)
    return DealerChangeResult(
        dealer_id=event.dealer_id,
        operation=event.operation,
        event_id=event.event_id,
        stream_seq=ack.seq,
        applied=applied,
    )


async def upsert(rt: Runtime, events: list[DealerChanged], *, wait: float = DEFAULT_WAIT_S) -> list[DealerChangeResult]:
    """Publish every upsert, then wait for all of them together."""
    return list(await asyncio.gather(*(publish_and_wait(rt, e, wait=wait) for e in events)))


async def delete(rt: Runtime, dealer_id: str, *, wait: float = DEFAULT_WAIT_S) -> DealerChangeResult:
    """Delete a dealer that the projection knows (a typo should not publish a tombstone)."""
    if await rt.pool.fetchval("SELECT 1 FROM dealers WHERE dealer_id = $1", dealer_id) is None:
        raise UnknownDealer(f"no dealer `{dealer_id}` (see `od dealer list`)")
    return await publish_and_wait(rt, DealerChanged(dealer_id=dealer_id, operation="delete"), wait=wait)


async def list_dealers(pool: asyncpg.Pool, *, include_deleted: bool = False) -> list[DealerRow]:
    rows = await pool.fetch(
        "SELECT dealer_id, name, city, region, platforms, lat, lng, location_source, price_preference,"
        " event_id, updated_at, deleted_at FROM dealers"
        " WHERE $1 OR deleted_at IS NULL ORDER BY dealer_id",
        include_deleted,
    )
    return [DealerRow(**dict(row)) for row in rows]


def format_table(dealers: list[DealerRow]) -> str:
    """A plain text table for a terminal."""
    header = ("DEALER", "NAME", "CITY", "PLATFORMS", "LOCATION", "UPDATED")
    lines = [
        (
            d.dealer_id + (" (deleted)" if d.deleted_at else ""),
            d.name,
            ", ".join(p for p in (d.city, d.region) if p),
            ",".join(d.platforms),
            f"{d.lat:.5f},{d.lng:.5f} ({d.location_source or '?'})" if d.lat is not None and d.lng is not None else "-",
            d.updated_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        )
        for d in dealers
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]
    )


async def _wait_applied(pool: asyncpg.Pool, event: DealerChanged, wait: float) -> bool:
    """Poll the projection until it carries ``event`` (or, for a delete, shows the dealer deleted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        row = await pool.fetchrow("SELECT event_id, deleted_at FROM dealers WHERE dealer_id = $1", event.dealer_id)
        if row is not None and (
            row["event_id"] == event.event_id or (event.operation == "delete" and row["deleted_at"] is not None)
        ):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)
