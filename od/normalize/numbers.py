"""Dirty numbers from feeds: prices, odometers, years.

Feeds send ``"$23,995"``, ``"10499 USD"``, ``23995.5``, ``"2012.0"``, ``"99,247 miles"``.
A price of 0 (or an absurd one) means "call for price": it is absent, never ``$0``.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MAX_PRICE = Decimal(10_000_000)
KM_PER_MILE = 1.609344

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)")
_CENT = Decimal("0.01")
_KM = re.compile(r"\b(?:km|kms|kilomet(?:er|re)s?|kmt)\b", re.IGNORECASE)


def number(value: object) -> Decimal | None:
    """The first number in ``value`` (thousands separators dropped), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not isinstance(value, str):
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    text = match.group().replace(",", "")
    if match.start() > 0 and value[match.start() - 1] == "-":
        text = "-" + text  # "$-5" / "USD -5": still negative
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def money(value: object) -> str | None:
    """A positive price as ``"23995.00"``; 0, negative, absurd or unparseable -> None."""
    amount = number(value)
    if amount is None or amount <= 0 or amount > MAX_PRICE:
        return None
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    if cents <= 0:
        return None
    return f"{cents:f}"


def mileage(value: object, unit: str = "mi") -> int | None:
    """Odometer in whole miles; km (from ``unit`` or the text, e.g. ``"12,000 km"``) converted."""
    amount = number(value)
    if amount is None or amount < 0:
        return None
    km = unit.lower().startswith("k") or (isinstance(value, str) and _KM.search(value) is not None)
    miles = float(amount) / KM_PER_MILE if km else float(amount)
    if not math.isfinite(miles):
        return None
    return int(Decimal(miles).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def integer(value: object) -> int | None:
    """A whole number such as a model year (``"2012.0"`` -> 2012); None unless integral."""
    amount = number(value)
    if amount is None or amount != amount.to_integral_value():
        return None
    return int(amount)
