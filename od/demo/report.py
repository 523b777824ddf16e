"""What the demo shows after its cycle: counts per dealer and source, the merge conflicts the
projection resolved (read back from ``vehicle_observations`` against ``vehicles``), and the
checks ``od demo --once`` exits on, made through the API as a user would."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg

from od.projections import merge
from od.projections.vehicles import unpack_state

COMPARED = tuple(f for f in merge.MERGED_FIELDS if f not in ("vin", "stock_number"))

NEARBY = "/v1/vehicles/nearby?lat=30.27&lng=-97.74&radius_km=50"


@dataclass
class Conflict:
    """One field of one vehicle on which its sources disagreed."""

    vehicle_id: str
    field: str
    values: dict[str, Any]
    """source -> what it said"""
    winners: list[str]
    """the sources whose value the merged record shows"""


@dataclass
class Counts:
    vehicles: dict[str, int] = field(default_factory=dict)
    """dealer -> available vehicles"""
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    """dealer -> source -> vehicles it listed"""
    merged: dict[str, int] = field(default_factory=dict)
    """dealer -> vehicles listed by more than one source"""


async def counts(pool: asyncpg.Pool) -> Counts:
    out = Counts()
    for row in await pool.fetch(
        "SELECT dealer_id, count(*) FILTER (WHERE status = 'available') AS n,"
        " count(*) FILTER (WHERE cardinality(sources) > 1) AS merged FROM vehicles GROUP BY dealer_id"
    ):
        out.vehicles[row["dealer_id"]] = row["n"]
        out.merged[row["dealer_id"]] = row["merged"]
    for row in await pool.fetch(
        "SELECT dealer_id, source, count(*) AS n FROM vehicle_observations GROUP BY dealer_id, source"
    ):
        out.by_source.setdefault(row["dealer_id"], {})[row["source"]] = row["n"]
    return out


def disagreements(vehicle_id: str, states: dict[str, dict[str, Any]], record: dict[str, Any]) -> list[Conflict]:
    """The fields where ``states`` (source -> values) differ, and who won in ``record``."""
    found = []
    for name in COMPARED:
        said = {source: values[name] for source, values in states.items() if name in values}
        if len(said) < 2 or len({repr(v) for v in said.values()}) < 2:
            continue
        shown = record.get(name)
        found.append(Conflict(vehicle_id, name, said, sorted(s for s, v in said.items() if v == shown)))
    return found


async def conflicts(pool: asyncpg.Pool) -> list[Conflict]:
    """Every disagreement among the sources of the vehicles listed by several sources."""
    rows = await pool.fetch(
        "SELECT o.vehicle_id, o.source, o.registers, o.first_seen_at, o.last_seen_at, v.record_json"
        " FROM vehicle_observations o JOIN vehicles v USING (vehicle_id)"
        " WHERE cardinality(v.sources) > 1 ORDER BY o.vehicle_id, o.source"
    )
    states: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    records: dict[str, dict[str, Any]] = {}
    for row in rows:
        state = unpack_state(row["registers"], row["first_seen_at"], row["last_seen_at"])
        states[row["vehicle_id"]][row["source"]] = state.values
        records[row["vehicle_id"]] = json.loads(row["record_json"])  # money as registers hold it: "123.00"
    return [c for vid, by_source in states.items() for c in disagreements(vid, by_source, records[vid])]


def conflict_lines(found: list[Conflict], limit_examples: int = 3) -> list[str]:
    """Per dealer and field: how many vehicles disagreed and which source won; a few examples."""
    table: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in found:
        table[(c.vehicle_id.split(":", 1)[0], c.field)][", ".join(c.winners) or "?"] += 1
    lines = []
    for (dealer, name), winners in sorted(table.items()):
        won = ", ".join(f"{source} {n}" for source, n in winners.most_common())
        lines.append(f"  {dealer:<22} {name:<15} {sum(winners.values()):>3} vehicles   won: {won}")
    seen: set[str] = set()
    for c in found:
        if c.field in seen or len(seen) >= limit_examples:
            continue
        seen.add(c.field)
        said = ", ".join(f"{s}={v!r}" for s, v in sorted(c.values.items()))
        lines.append(f"  e.g. {c.vehicle_id} {c.field}: {said} -> {', '.join(c.winners) or '?'}")
    return lines


async def check(api: str, dealer_ids: list[str], multi_source: list[str]) -> list[str]:
    """What ``--once`` verifies through the API; the failures, empty when all passed."""
    failures = []
    async with aiohttp.ClientSession() as http:
        for dealer_id in dealer_ids:
            async with http.get(f"{api}/v1/vehicles?dealer_id={quote(dealer_id)}&limit=200") as resp:
                items = (await resp.json())["items"] if resp.status == 200 else []
            if not items:
                failures.append(f"the API lists no vehicles of {dealer_id} (HTTP {resp.status})")
            elif dealer_id in multi_source and not any(len(i["sources"]) > 1 for i in items):
                failures.append(f"no vehicle of {dealer_id} is merged across sources")
        async with http.get(api + NEARBY) as resp:
            if resp.status != 200 or not (await resp.json())["items"]:
                failures.append(f"nearby search found nothing (HTTP {resp.status}): {NEARBY}")
    return failures
