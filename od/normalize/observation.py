"""One raw vehicle (contract field names, source values) -> a valid ``VehicleObserved``.

Fetchers map their source's keys to the contract's names and hand the dirty values here.
Every oddity that can be kept is kept and noted in ``warnings``; a vehicle is rejected only
when it cannot be identified (no VIN and no stock number) or a value is impossible, and the
``Rejection`` names the field and the value. Never raises on bad input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from od.events.model import FieldWarning, VehicleObserved, vehicle_key
from od.normalize.canonical import (
    absent_values,
    canonical_body_style,
    canonical_drivetrain,
    canonical_fuel_type,
    canonical_make,
    canonical_model,
    canonical_transmission,
    proper_case,
)
from od.normalize.dates import parse_date
from od.normalize.flags import condition
from od.normalize.numbers import integer, mileage, money, number
from od.normalize.text import clean_text, truncate
from od.normalize.urls import image_list, url
from od.normalize.vin import check_vin

FIRST_YEAR = 1886  # Benz Patent-Motorwagen
MODEL_YEARS_AHEAD = 2
"""Next year's models are sold from spring; a year beyond that is announced but not yet built."""
MAX_MILEAGE = 5_000_000
MIN_PRICE = 100
"""Prices under this are placeholders ("$1", "$99 down"), not what the car costs."""
_MIN_PRICE_LENGTH = len(f"{MIN_PRICE}.00")  # money() strings shorter than "100.00" are below it
_ZEROS = frozenset((None, "", "0", "0.0", "0.00", "$0", "$0.00", 0))
MAX_OPTIONS = 500
MAX_WARNINGS = 100
SHORT = 200
_CACHED_LENGTH = 300

_ABSENT = absent_values()
_DEALER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE_SHAPE = re.compile(r"^\s*\d{1,4}[-/]\d{1,2}[-/]\d{1,4}")
"""Date-shaped sentinels ("0001-01-01", "00/24/2025") mean "not given": no warning."""
_OPTION_SEPARATORS = ("|", ";", "\n", ",")


class Rejection(msgspec.Struct, frozen=True):
    """Why a raw vehicle was not published: the field, its value (a truncated repr), the reason."""

    field: str
    value: str
    reason: str


def shown(value: object, limit: int = 120) -> str:
    """A bounded ``repr`` for warnings and rejections."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _given(value: object) -> bool:
    """Did the source say anything? (None, blanks and "N/A"-style placeholders mean no.)"""
    if value is None:
        return False
    if isinstance(value, str):
        text = value.strip()
        return bool(text) and text.lower() not in _ABSENT
    return True


def _tidy_text(value: object, limit: int = SHORT) -> str | None:
    text = clean_text(value, limit=limit)
    return None if text is None or text.lower() in _ABSENT else text


def _tidy_name(value: object, acronyms: bool = True) -> str | None:
    text = _tidy_text(value)
    return None if text is None else proper_case(text, acronyms=acronyms)


# Colors, trims, engines, options and price names repeat across a whole feed.
_cached_text = lru_cache(maxsize=16_384)(_tidy_text)
_cached_name = lru_cache(maxsize=8_192)(_tidy_name)


def _text(value: object, limit: int = SHORT) -> str | None:
    if isinstance(value, str) and len(value) <= _CACHED_LENGTH:
        return _cached_text(value, limit)
    return _tidy_text(value, limit)


def _name(value: object, *, acronyms: bool = True) -> str | None:
    if isinstance(value, str) and len(value) <= _CACHED_LENGTH:
        return _cached_name(value, acronyms)
    return _tidy_name(value, acronyms)


def _options(value: object) -> list[str] | None:
    if isinstance(value, str):
        separator = next((sep for sep in _OPTION_SEPARATORS if sep in value), ",")
        parts: list[object] = list(value.split(separator))
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return None
    seen: dict[str, None] = {}
    for part in parts:
        text = _text(part, limit=300)
        if text is not None:
            seen[text] = None
            if len(seen) == MAX_OPTIONS:
                break
    return list(seen) or None


def default_event_id(dealer_id: str, source: str, run_id: str, key: str) -> str:
    """Deterministic, so a retried run republishes the same ids (and JetStream dedups them)."""
    return hashlib.sha256(f"{dealer_id}\x1f{source}\x1f{run_id}\x1f{key}".encode()).hexdigest()


class _Notes:
    """Warnings collected while normalizing one vehicle."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[FieldWarning] = []

    def add(self, field: str, code: str, detail: str) -> None:
        self.items.append(FieldWarning(field=truncate(field, SHORT), code=code, detail=truncate(detail, 500)))

    def extend(self, warnings: list[FieldWarning]) -> None:
        self.items.extend(warnings)


def _price(field: str, value: object, notes: _Notes) -> str | None:
    if (value is None or isinstance(value, str | int | float)) and value in _ZEROS:
        return None  # "call for price": the usual absent price, nothing to note
    price = money(value)
    if price is not None and len(price) < _MIN_PRICE_LENGTH:
        notes.add(field, "implausible", f"{shown(value)} is below {MIN_PRICE}: treated as not given")
        return None
    if price is None and _given(value):
        amount = number(value)
        if amount is not None and amount != 0:
            notes.add(field, "implausible", f"{shown(value)} is not a price: treated as not given")
    return price


@lru_cache(maxsize=256)  # the same few per run
def _check_ids(dealer_id: str, source: str, run_id: str) -> None:
    if not _DEALER_ID.match(dealer_id):
        raise ValueError(f"invalid dealer_id {dealer_id!r}")
    if not _SOURCE.match(source):
        raise ValueError(f"invalid source {source!r}")
    if len(run_id) > 128:
        raise ValueError("run_id is longer than 128 characters")


def _check_caller(dealer_id: str, source: str, run_id: str, occurred_at: datetime, event_id: str | None) -> None:
    """Arguments from the fetcher itself (not from the feed): a bad one is a bug, so raise."""
    _check_ids(dealer_id, source, run_id)
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    if event_id is not None and not 0 < len(event_id) <= 128:
        raise ValueError("event_id must have 1 to 128 characters")


def observation_from_raw(
    raw: Mapping[str, object],
    *,
    dealer_id: str,
    source: str,
    occurred_at: datetime,
    run_id: str,
    base_url: str | None = None,
    event_id: str | None = None,
    mileage_unit: str = "mi",
) -> VehicleObserved | Rejection:
    """Normalize one raw vehicle; see the module docstring for what is kept and what is rejected."""
    _check_caller(dealer_id, source, run_id, occurred_at, event_id)
    if occurred_at.utcoffset():
        occurred_at = occurred_at.astimezone(UTC)  # the contract's times are UTC
    notes = _Notes()
    get = raw.get

    raw_vin = get("vin")
    vin: str | None = None
    if _given(raw_vin):
        checked = check_vin(raw_vin)
        vin = checked.vin
        notes.extend(checked.warnings)
    raw_stock = get("stock_number")
    stock = _tidy_text(raw_stock, limit=10_000)  # unique per vehicle: not worth caching
    if stock is not None and len(stock) > 64:
        notes.add("stock_number", "too_long", f"{shown(raw_stock)} is longer than 64 characters")
        stock = None
    if vin is None and stock is None:
        reason = "no valid VIN and no stock number: the vehicle cannot be identified"
        if notes.items:
            reason = f"{reason} ({notes.items[0].code}: {notes.items[0].detail})"
        return Rejection(field="vin", value=shown(raw_vin), reason=reason)

    raw_year = get("year")
    year = integer(raw_year)
    last_year = occurred_at.year + MODEL_YEARS_AHEAD
    if year is not None and not FIRST_YEAR <= year <= last_year:
        return Rejection(field="year", value=shown(raw_year), reason=f"model year outside {FIRST_YEAR}..{last_year}")
    if year is None and _given(raw_year):
        notes.add("year", "unparseable", f"{shown(raw_year)} is not a model year")

    raw_mileage = get("mileage")
    miles = mileage(raw_mileage, mileage_unit)
    if miles is not None and miles > MAX_MILEAGE:
        notes.add("mileage", "implausible", f"{shown(raw_mileage)} is over {MAX_MILEAGE:,} miles")
        miles = None
    elif miles is None and _given(raw_mileage):
        notes.add("mileage", "unparseable", f"{shown(raw_mileage)} is not an odometer reading")

    price = _price("price", get("price"), notes)
    msrp = _price("msrp", get("msrp"), notes)
    other_prices: dict[str, str] = {}
    raw_other = get("other_prices")
    if isinstance(raw_other, Mapping):
        for name, value in raw_other.items():
            label = _text(name)
            amount = _price(f"other_prices.{label}", value, notes) if label else None
            if label and amount is not None:
                other_prices[label] = amount

    currency: str | None = None
    raw_currency = get("currency")
    if _given(raw_currency):
        code = str(raw_currency).strip().upper()
        if _CURRENCY.match(code):
            currency = code
        else:
            notes.add("currency", "unparseable", f"{shown(raw_currency)} is not an ISO 4217 code")
    if currency is None and (price or msrp or other_prices):
        currency = "USD"

    raw_date = get("date_in_stock")
    in_stock = parse_date(raw_date)
    if in_stock is None and _given(raw_date) and not (isinstance(raw_date, str) and _DATE_SHAPE.match(raw_date)):
        notes.add("date_in_stock", "unparseable", f"{shown(raw_date)} is not a date")

    key = vehicle_key(vin, stock)
    return VehicleObserved(
        event_id=event_id or default_event_id(dealer_id, source, run_id, key),
        occurred_at=occurred_at,
        dealer_id=dealer_id,
        source=source,
        run_id=run_id,
        vin=vin,
        stock_number=stock,
        year=year,
        make=canonical_make(get("make")),
        model=canonical_model(get("model")),
        trim=_name(get("trim")),
        body_style=canonical_body_style(get("body_style")),
        drivetrain=canonical_drivetrain(get("drivetrain")),
        transmission=canonical_transmission(get("transmission")),
        engine=_text(get("engine")),
        fuel_type=canonical_fuel_type(get("fuel_type")),
        exterior_color=_name(get("exterior_color"), acronyms=False),
        interior_color=_name(get("interior_color"), acronyms=False),
        condition=condition(get("condition"), get("certified")),
        mileage=miles,
        price=price,
        msrp=msrp,
        currency=currency,
        images=image_list(get("images"), base_url),
        options=_options(get("options")),
        description=clean_text(get("description"), multiline=True, limit=20_000),
        dealer_url=url(get("dealer_url"), base_url),
        date_in_stock=in_stock,
        other_prices=other_prices,
        warnings=notes.items[:MAX_WARNINGS],
    )
