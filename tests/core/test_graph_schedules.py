"""Schedules: cron defaults and per-dealer overrides, cycles, and catching up once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from od.scheduling.graph import JOBS, check
from od.scheduling.schedules import (
    Ticks,
    cycle_id,
    latest_tick,
    manual_cycle,
    next_tick,
    override_errors,
    run_id,
    schedule_for,
)

TABLE = check(JOBS)
T0 = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)


def test_defaults_homenet_daily_dealer_com_hourly_scrape_daily() -> None:
    for name, period in [
        ("homenet", timedelta(days=1)),
        ("dealer_com", timedelta(hours=1)),
        ("scrape", timedelta(days=1)),
    ]:
        expr = TABLE[name].schedule
        tick = latest_tick(expr, T0)
        assert next_tick(expr, tick) - tick == period


def test_a_tick_is_due_at_its_own_second() -> None:
    assert latest_tick("0 6 * * *", T0) == T0
    assert latest_tick("0 6 * * *", T0 + timedelta(microseconds=999_999)) == T0
    assert latest_tick("0 6 * * *", T0 - timedelta(seconds=1)) == T0 - timedelta(days=1)


def test_after_downtime_only_the_latest_missed_tick_is_due() -> None:
    # Down for five days of hourly ticks: one run to catch up, not 120.
    back = T0 + timedelta(days=5, minutes=17)
    assert latest_tick("0 * * * *", back) == T0 + timedelta(days=5)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)))
def test_the_latest_tick_is_the_last_one_not_after_now(now: datetime) -> None:
    for expr in ("0 * * * *", "0 6 * * *", "*/7 3-5 * * 1-5"):
        tick = latest_tick(expr, now)
        assert tick <= now
        assert next_tick(expr, tick) > now.replace(microsecond=0)


def test_a_dealer_override_replaces_the_default_when_it_is_valid() -> None:
    homenet = TABLE["homenet"]
    assert schedule_for(homenet, {"homenet": "*/30 * * * *"}) == "*/30 * * * *"
    assert schedule_for(homenet, {"homenet": "every day"}) == homenet.schedule
    assert schedule_for(homenet, {"homenet": 5}) == homenet.schedule
    assert schedule_for(homenet, {}) == homenet.schedule


def test_bad_overrides_are_named() -> None:
    errors = override_errors({"homenet": "every day", "ftp": "0 * * * *", "scrape": "0 1 * * *"}, TABLE)
    assert errors == ["schedules.homenet: 'every day' is not a cron expression", "schedules.ftp: no such job"]


def test_ticks_are_computed_once_per_expression() -> None:
    ticks = Ticks(T0 + timedelta(minutes=5))
    assert ticks.latest("0 * * * *") is ticks.latest("0 * * * *")


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_cycles_sort_as_time(a: datetime, b: datetime) -> None:
    a, b = a.replace(microsecond=0), b.replace(microsecond=0)
    if a.year >= 1000 and b.year >= 1000:
        assert (cycle_id(a) < cycle_id(b)) == (a < b)


def test_run_ids_are_deterministic_and_manual_cycles_unique() -> None:
    cycle = cycle_id(T0)
    assert cycle == "2025-03-10T06:00:00Z"
    assert run_id("rsm-honda", "homenet", cycle) == "rsm-honda.homenet.2025-03-10T06:00:00Z"
    assert manual_cycle(T0) != manual_cycle(T0)
    assert manual_cycle(T0).startswith("manual-20250310T060000Z-")
