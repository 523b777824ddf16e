"""Hostile values for the normalizers (guarantee G6, before the bus): the value helpers take
*any* Python value a feed parser can produce (NaN, infinities, Decimal NaN, huge integers,
megabyte strings, bytes, nested containers) and answer a clean value or ``None``, never an
exception; ``observation_from_raw`` answers a valid event or a :class:`Rejection` naming the
field. The per-type fuzzers in test_normalize_values/_vin/_observation cover ordinary text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from od.events import VehicleObserved, decode_event, encode_event
from od.normalize import Rejection, check_vin, mileage, money, observation_from_raw, parse_date

FUZZ = settings(max_examples=200, deadline=None)
MB = 1_000_000

specials = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        1e308,
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-1e999999"),
        10**400,
        -(10**400),
        "NaN",
        "Infinity",
        "1e999",
        "9" * 5000,
        "$" + "9," * 10_000,
        "x" * MB,
        "\x00\ud800\uffff",
        b"\xff\xfe23995",
        bytearray(b"123"),
        "9999-12-31",
        "99999-01-01",
        "0000-00-00",
        "2026-02-30",
        date.max,
        datetime.max,
        ["23995"],
        {"amount": 1},
        object(),
    ]
)
anything = st.one_of(
    specials,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(st.characters(exclude_categories=()), max_size=80),
    st.binary(max_size=40),
    st.lists(st.integers(), max_size=3),
)


@FUZZ
@given(anything)
@example("x" * MB)
def test_value_normalizers_never_raise(value: Any) -> None:
    price = money(value)
    assert price is None or (Decimal(price).is_finite() and Decimal(price) > 0)
    miles = mileage(value)
    assert miles is None or (isinstance(miles, int) and miles >= 0)
    km = mileage(value, "km")
    assert km is None or (isinstance(km, int) and km >= 0)
    day = parse_date(value)
    assert day is None or isinstance(day, date)
    check = check_vin(value)
    assert check.vin is None or len(check.vin) == 17


_FIELDS = ["stock_number", "year", "make", "model", "mileage", "price", "msrp", "images", "description",
           "dealer_url", "date_in_stock", "options", "currency"]  # fmt: skip


@FUZZ
@given(vin=anything, values=st.fixed_dictionaries({}, optional={name: anything for name in _FIELDS}))
@example(vin="1HGCV1F50MA015459", values={"description": "x" * MB, "images": "https://i.test/a.jpg," * 50_000})
@example(vin="1HGCV1F50MA015459", values={"price": float("nan"), "mileage": float("inf"), "year": 9999})
def test_observation_is_valid_or_a_rejection_naming_the_field(vin: Any, values: dict[str, Any]) -> None:
    result = observation_from_raw(
        {"vin": vin, **values},
        dealer_id="d1",
        source="homenet",
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
        run_id="r1",
        base_url="https://dealer.test/",
    )
    if isinstance(result, Rejection):
        assert result.field in ("vin", "year", "stock_number") and result.reason
        assert len(result.value) <= 120  # a megabyte value is not copied into the reason
    else:
        assert isinstance(result, VehicleObserved)
        assert decode_event(encode_event(result)) == result  # every consumer accepts it
