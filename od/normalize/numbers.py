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

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)", re.ASCII)
_CENT = Decimal("0.01")
_SHORT = 19  # digits that always fit an int64, so int() is exact and cheap
_HUGE = 10**18
_KM = re.compile(r"\b(?:km|kms|kilomet(?:er|re)s?|kmt)\b", re.IGNORECASE)


def _numeral(value: object) -> str | None:
    """The first number in ``value`` as plain text ("$-1,234.5 USD" -> "-1234.5"), else None."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return value  # "23995", "2021": most feed numbers
        plain = value.replace(",", "").strip().lstrip("$")
        if plain.isascii() and plain.isdigit():
            return plain  # "$23,995", "21,918"
        match = _NUMBER.search(value)
        if match is None:
            return None
        text = match.group().replace(",", "")
        if match.start() > 0 and value[match.start() - 1] == "-":
            text = "-" + text  # "$-5" / "USD -5": still negative
        return text
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < _HUGE else None
    if isinstance(value, float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def _small_int(text: str) -> int | None:
    """``int(text)`` for short whole numbers (the usual case), without a Decimal."""
    if len(text) < _SHORT and text.lstrip("-+").isdigit():
        return int(text)
    return None


def number(value: object) -> Decimal | None:
    """The first number in ``value`` (thousands separators dropped), else None."""
    text = _numeral(value)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def money(value: object) -> str | None:
    """A positive price as ``"23995.00"``; 0, negative, absurd or unparseable -> None."""
    text = _numeral(value)
    if text is None:
        return None
    whole_text, _, cents = text.partition(".")
    whole = _small_int(whole_text)
    if whole is not None and len(cents) <= 2 and (not cents or cents.isdigit()):
        # "23995", "23995.5", "23995.50": exact without a Decimal
        if whole_text.startswith("-"):
            return None
        cents = cents.ljust(2, "0")
        if (whole == 0 and cents == "00") or whole > MAX_PRICE or (whole == MAX_PRICE and cents != "00"):
            return None
        return f"{whole}.{cents}"
    amount = number(text)
    if amount is None or amount <= 0 or amount > MAX_PRICE:
        return None
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"{rounded:f}" if rounded > 0 else None


def mileage(value: object, unit: str = "mi") -> int | None:
    """Odometer in whole miles; km (from ``unit`` or the text, e.g. ``"12,000 km"``) converted."""
    text = _numeral(value)
    if text is None:
        return None
    try:
        amount = float(text)
    except ValueError:
        return None
    if not 0 <= amount < math.inf:
        return None
    km = unit[:1] in ("k", "K") or (isinstance(value, str) and not value.isdigit() and _KM.search(value) is not None)
    miles = amount / KM_PER_MILE if km else amount
    return int(miles + 0.5)  # half up


def integer(value: object) -> int | None:
    """A whole number such as a model year (``"2012.0"`` -> 2012); None unless integral."""
    text = _numeral(value)
    if text is None:
        return None
    whole = _small_int(text)
    if whole is not None:
        return whole
    amount = number(text)
    if amount is None or amount != amount.to_integral_value() or abs(amount) >= _HUGE:
        return None
    return int(amount)
