"""The merge policy: what each source said about a vehicle → one public record. Pure, no I/O.

Each source keeps, per field, a last-write-wins *register*: a value and the stamp ``(t, e)`` of
the observation that wrote it (``t``: occurred_at in µs since the epoch, ``e``: event_id). An
observation replaces a register only when its stamp is greater, and an absent or null value
never touches one. A source's registers are held compactly (``SourceState``): the values, the
row's latest stamp once, and a stamp per field only where it is older. The merged value of a
field is the register, among all sources that have one, with the greatest
``(tier rank, t, e, source)``. Registers and that choice are commutative and idempotent, so the
merged record is the same whatever the delivery order and however often an event is delivered.

``PRECEDENCE`` below is the one table of source tiers; an operator may reorder it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal

import msgspec

from od.events.model import VehicleFields, VehicleObserved

PREFERRED_PRICE_SOURCE = "$price_preference"
"""Placeholder in ``PRECEDENCE``: the dealer's ``price_preference`` source."""

# field group -> (fields, source tiers best first). Sources not listed rank below every listed
# one (so a future source never outranks a known one) and, among themselves, the latest wins.
# A group with no tiers is "latest occurred_at wins" across all sources.
PRECEDENCE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "structure": (
        ("year", "make", "model", "trim", "body_style", "drivetrain", "transmission", "engine", "fuel_type"),
        ("homenet", "dealer_com", "scrape", "manual"),
    ),
    "surface": (("dealer_url", "images", "description"), ("scrape", "dealer_com", "homenet", "manual")),
    "price": (("price", "msrp"), (PREFERRED_PRICE_SOURCE,)),
}

MERGED_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(VehicleFields))
"""The fields a source can state; all but those named in ``PRECEDENCE`` are latest-wins."""

WARNINGS = "warnings"
"""Also a per-source register; the record carries the union of each source's latest list."""

PUBLIC_KEYS: tuple[str, ...] = (*MERGED_FIELDS, WARNINGS, "sources", "first_seen_at", "status")
"""What a ``VehicleChanged`` is about: a change of any of these is a real change."""

Status = Literal["available", "sold"]


Stamp = tuple[int, str]


class SourceState(msgspec.Struct, kw_only=True):
    """What one source has said about one vehicle: its registers, and when it showed it.

    The register of ``field`` is ``(values[field], stamps.get(field, (t, e)))``; ``stamps``
    holds only the fields whose stamp is older than the row's ``(t, e)``, so equal registers
    have one representation."""

    t: int
    e: str
    values: dict[str, Any]
    stamps: dict[str, Stamp]
    first_seen: int  # µs since the epoch
    last_seen: int

    def stamp(self, field: str) -> Stamp:
        return self.stamps.get(field) or (self.t, self.e)


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """The latest complete pull of a (dealer, source)."""

    t: int
    e: str
    run_id: str
    keys: frozenset[str]

    def newer_than(self, other: Completion | None) -> bool:
        return other is None or (self.t, self.e) > (other.t, other.e)


def micros(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(t: int) -> datetime:
    return _EPOCH + timedelta(microseconds=t)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def observed_values(obs: VehicleObserved) -> dict[str, Any]:
    """The JSON values an observation states (nulls left out: they say nothing)."""
    out = {f: v for f in MERGED_FIELDS if (v := getattr(obs, f)) is not None}
    if obs.date_in_stock is not None:
        out["date_in_stock"] = obs.date_in_stock.isoformat()
    out[WARNINGS] = msgspec.to_builtins(obs.warnings) if obs.warnings else []
    return out


def apply_observation(state: SourceState | None, values: Mapping[str, Any], t: int, e: str) -> tuple[SourceState, bool]:
    """``state`` after one observation, and whether anything changed. A new object when
    ``state`` is None; otherwise ``state`` itself, updated in place."""
    if state is None:
        return SourceState(t=t, e=e, values=dict(values), stamps={}, first_seen=t, last_seen=t), True
    new = (t, e)
    row = (state.t, state.e)
    changed = False
    current, stamps = state.values, state.stamps
    if new > row:  # newer than every register: it writes all it states, the rest keep their stamp
        for field in current:
            if field not in values and field not in stamps:
                stamps[field] = row
        for field, value in values.items():
            current[field] = value
            stamps.pop(field, None)
        state.t, state.e = new
        changed = True
    else:
        for field, value in values.items():
            if field in current:
                old = stamps.get(field) or row
                if not (new > old or (new == old and _tie_wins(current[field], value))):
                    continue
            current[field] = value
            if new == row:
                stamps.pop(field, None)
            else:
                stamps[field] = new
            changed = True
    if t < state.first_seen:
        state.first_seen, changed = t, True
    if t > state.last_seen:
        state.last_seen, changed = t, True
    return state, changed


def _tie_wins(current: Any, value: Any) -> bool:
    """Two different values under one stamp (an event id reused against the contract): the
    greater encoding wins, so even then the order of delivery does not matter."""
    return value != current and _ENCODE(value) > _ENCODE(current)


_ENCODE = msgspec.json.Encoder(order="sorted").encode


@cache
def _ranks(price_preference: str) -> dict[str, dict[str, int]]:
    """field -> source -> rank (higher wins; unlisted sources 0)."""
    ranks: dict[str, dict[str, int]] = {f: {} for f in MERGED_FIELDS}
    for fields, tiers in PRECEDENCE.values():
        order = [price_preference if s == PREFERRED_PRICE_SOURCE else s for s in tiers]
        for field in fields:
            ranks[field] = {source: len(order) - i for i, source in enumerate(order)}
    return ranks


def merge_fields(states: Mapping[str, SourceState], price_preference: str) -> dict[str, Any]:
    """Per field, the winning value across sources (fields nobody stated are left out)."""
    merged: dict[str, Any]
    if len(states) == 1:  # one source: its registers are the record
        (state,) = states.values()
        merged = dict(state.values)
        merged[WARNINGS] = _warnings(states)
        return merged
    merged = {}
    ranks = _ranks(price_preference)
    for field in MERGED_FIELDS:
        field_ranks = ranks[field]
        best: tuple[int, int, str, str] | None = None
        for source, state in states.items():
            if field in state.values:
                t, e = state.stamp(field)
                candidate = (field_ranks.get(source, 0), t, e, source)
                if best is None or candidate > best:
                    best = candidate
                    merged[field] = state.values[field]
    merged[WARNINGS] = _warnings(states)
    return merged


def _warnings(states: Mapping[str, SourceState]) -> list[dict[str, str]]:
    """The union of each source's latest warnings, sorted."""
    lists = [w for state in states.values() if (w := state.values.get(WARNINGS))]
    if not lists:
        return []
    warnings: dict[tuple[str, str, str], dict[str, str]] = {}
    for listed in lists:
        for w in listed:
            warnings[(w["field"], w["code"], w.get("detail", ""))] = w
    return [warnings[k] for k in sorted(warnings)]


def source_gone(state: SourceState, key: str, completion: Completion | None) -> bool:
    """The source has completed a full pull, after it last showed the vehicle, without it."""
    return completion is not None and completion.t > state.last_seen and key not in completion.keys


def vehicle_status(
    states: Mapping[str, SourceState], key: str, completions: Mapping[str, Completion | None]
) -> tuple[Status, int | None]:
    """``sold`` when every source that observed the vehicle says it is gone; with the time of
    the latest of those completions (when the vehicle became sold, given in-order delivery)."""
    gone_at = 0
    for source, state in states.items():
        completion = completions.get(source)
        if not source_gone(state, key, completion):
            return "available", None
        assert completion is not None
        gone_at = max(gone_at, completion.t)
    return ("sold", gone_at) if states else ("available", None)


def public_values(states: Mapping[str, SourceState], status: Status, price_preference: str) -> dict[str, Any]:
    """The public part of the record: merged fields, warnings, sources, first seen, status."""
    public = merge_fields(states, price_preference)
    public["sources"] = sorted(states)
    public["first_seen_at"] = min(s.first_seen for s in states.values())
    public["status"] = status
    return public


def changed_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    if old is None:
        return []
    return [k for k in PUBLIC_KEYS if old.get(k) != new.get(k)]


Change = Literal["created", "updated", "sold", "relisted"]


def change_kind(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Change | None:
    """What a ``VehicleChanged`` should say about ``old`` → ``new`` (None: nothing public changed)."""
    if old is None:
        return "created"
    if old["status"] != new["status"]:
        return "sold" if new["status"] == "sold" else "relisted"
    return "updated" if changed_keys(old, new) else None
