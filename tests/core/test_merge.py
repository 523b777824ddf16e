"""The merge policy: order and duplicates never matter; tiers and price preference decide."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from od.events import VehicleObserved
from od.projections import merge
from od.projections.merge import Completion, SourceState

SOURCES = ("homenet", "dealer_com", "scrape", "manual", "future_feed")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
VIN = "1HGCM82633A004352"


def obs(source: str, minute: int, event_id: str, **fields: Any) -> VehicleObserved:
    return VehicleObserved(
        event_id=event_id,
        occurred_at=T0 + timedelta(minutes=minute),
        dealer_id="d1",
        source=source,
        vin=VIN,
        **fields,
    )


def fold(events: list[VehicleObserved | tuple[str, Completion]]) -> tuple[dict[str, Any], str]:
    """What the store does, without the store: registers, latest completions, status."""
    states: dict[str, SourceState] = {}
    completions: dict[str, Completion] = {}
    for event in events:
        if isinstance(event, tuple):
            source, completion = event
            if completion.newer_than(completions.get(source)):
                completions[source] = completion
            continue
        state, _ = merge.apply_observation(
            states.get(event.source), merge.observed_values(event), merge.micros(event.occurred_at), event.event_id
        )
        states[event.source] = state
    status, _ = merge.vehicle_status(states, VIN, completions)
    return merge.public_values(states, status, "homenet"), status


field_values = st.fixed_dictionaries(
    {},
    optional={
        "year": st.integers(2015, 2026),
        "make": st.sampled_from(["Honda", "Toyota"]),
        "trim": st.sampled_from(["LX", "EX", None]),
        "price": st.sampled_from(["20000.00", "21000.00", None]),
        "msrp": st.sampled_from(["25000.00", None]),
        "mileage": st.integers(0, 10),
        "images": st.lists(st.sampled_from(["https://x.test/1.jpg", "https://x.test/2.jpg"]), max_size=2),
        "description": st.sampled_from(["a", "b"]),
    },
)


def _obs(draw: st.DrawFn, n: int) -> VehicleObserved:
    """Observation number ``n``: its own event id (an id names one fact), a time it may share."""
    fields = draw(field_values)
    return obs(draw(st.sampled_from(SOURCES)), draw(st.integers(0, 5)), f"e{n}", **fields)


@st.composite
def histories(draw: st.DrawFn) -> list[VehicleObserved | tuple[str, Completion]]:
    events: list[VehicleObserved | tuple[str, Completion]] = [_obs(draw, n) for n in range(draw(st.integers(1, 8)))]
    for n in range(draw(st.integers(0, 3))):
        keys = frozenset([VIN]) if draw(st.booleans()) else frozenset()
        t = merge.micros(T0 + timedelta(minutes=draw(st.integers(0, 7))))
        source = draw(st.sampled_from(SOURCES))
        # An event id names one fact: two completions may share a time, never an id.
        events.append((source, Completion(t=t, e=f"c{n}", run_id="r", keys=keys)))
    return events


@settings(max_examples=150, deadline=None)
@given(history=histories(), data=st.data())
def test_any_order_and_any_duplication_give_the_same_record(history: list[Any], data: st.DataObject) -> None:
    expected = fold(history)
    shuffled = data.draw(st.permutations(history))
    duplicates = data.draw(st.lists(st.sampled_from(history), max_size=6))
    mixed = data.draw(st.permutations(shuffled + duplicates))
    assert fold(mixed) == expected


def rank(field: str, source: str) -> int:
    return merge._ranks("homenet")[field].get(source, 0)


@settings(max_examples=150, deadline=None)
@given(history=histories(), data=st.data())
def test_an_older_lower_tier_observation_never_changes_a_winning_field(history: list[Any], data: st.DataObject) -> None:
    before, _ = fold(history)
    observed = [e for e in history if isinstance(e, VehicleObserved)]
    late = data.draw(
        st.builds(lambda s, f: obs(s, -1, "e0", **f), st.sampled_from(SOURCES), field_values), label="late"
    )
    after, _ = fold([*history, late])
    for field in merge.MERGED_FIELDS:
        stated = [e.source for e in observed if getattr(e, field) is not None]
        if stated and rank(field, late.source) < min(rank(field, s) for s in stated):
            assert after[field] == before[field], field


def test_tiers_decide_before_time() -> None:
    old_homenet = obs("homenet", 0, "a", make="Honda", images=["https://x.test/h.jpg"])
    new_scrape = obs("scrape", 10, "b", make="Acura", images=["https://x.test/s.jpg"])
    for order in ([old_homenet, new_scrape], [new_scrape, old_homenet]):
        record, _ = fold(list(order))
        assert record["make"] == "Honda"  # structure: homenet > scrape
        assert record["images"] == ["https://x.test/s.jpg"]  # surface: scrape > homenet


def test_price_follows_the_dealers_preference_then_the_latest() -> None:
    states: dict[str, SourceState] = {}
    for event in (
        obs("homenet", 0, "a", price="20000.00"),
        obs("scrape", 5, "b", price="19000.00"),
        obs("dealer_com", 9, "c", price="18500.00"),
    ):
        states[event.source], _ = merge.apply_observation(
            None, merge.observed_values(event), merge.micros(event.occurred_at), event.event_id
        )
    assert merge.merge_fields(states, "homenet")["price"] == "20000.00"
    assert merge.merge_fields(states, "scrape")["price"] == "19000.00"
    del states["scrape"]
    assert merge.merge_fields(states, "scrape")["price"] == "18500.00"  # then the latest of the others


def test_null_never_erases_and_unknown_sources_rank_lowest() -> None:
    record, _ = fold([obs("manual", 0, "a", trim="EX"), obs("manual", 5, "b", trim=None)])
    assert record["trim"] == "EX"
    record, _ = fold([obs("manual", 0, "a", model="Civic"), obs("future_feed", 9, "b", model="Accord")])
    assert record["model"] == "Civic"
    record, _ = fold([obs("scrape", 0, "a", mileage=10), obs("future_feed", 9, "b", mileage=12)])
    assert record["mileage"] == 12  # other fields: the latest wins whatever the source


def test_sold_when_every_source_completed_without_it_relisted_when_seen_again() -> None:
    seen = obs("homenet", 0, "a", price="20000.00")
    also = obs("scrape", 1, "b")
    gone_h = ("homenet", Completion(t=merge.micros(T0 + timedelta(minutes=3)), e="c1", run_id="r", keys=frozenset()))
    gone_s = ("scrape", Completion(t=merge.micros(T0 + timedelta(minutes=4)), e="c2", run_id="r", keys=frozenset()))
    assert fold([seen, also, gone_h])[1] == "available"  # scrape still shows it
    assert fold([seen, also, gone_h, gone_s])[1] == "sold"
    back = obs("scrape", 6, "d")
    assert fold([seen, also, gone_h, gone_s, back])[1] == "available"
    listed = (
        "homenet",
        Completion(t=merge.micros(T0 + timedelta(minutes=3)), e="c1", run_id="r", keys=frozenset([VIN])),
    )
    assert fold([seen, listed])[1] == "available"


def test_change_kinds() -> None:
    a, _ = fold([obs("homenet", 0, "a", price="1000.00")])
    b, _ = fold([obs("homenet", 0, "a", price="1000.00"), obs("homenet", 1, "b", price="1000.00")])
    c, _ = fold([obs("homenet", 0, "a", price="1000.00"), obs("homenet", 1, "b", price="1100.00")])
    assert merge.change_kind(None, a) == "created"
    assert merge.change_kind(a, b) is None  # seen again, nothing public changed
    assert merge.change_kind(a, c) == "updated" and merge.changed_keys(a, c) == ["price"]
    assert merge.change_kind(a, {**a, "status": "sold"}) == "sold"
    assert merge.change_kind({**a, "status": "sold"}, a) == "relisted"


def test_merge_is_pure() -> None:
    assert "asyncpg" not in vars(merge) and "nats" not in vars(merge)
    source = open(merge.__file__).read()
    assert "import asyncpg" not in source and "import nats" not in source
    assert sys.modules["od.projections.merge"] is merge
