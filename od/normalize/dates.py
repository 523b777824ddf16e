"""Dates as feeds write them: ``MM/DD/YYYY``, ISO dates and datetimes, and sentinels.

``0001-01-01`` (.NET's ``DateTime.MinValue``) and month or day ``00`` mean "not given".
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

_US = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[T ]|\s)")
MIN_YEAR = 1900


def _make(year: int, month: int, day: int) -> date | None:
    if year < MIN_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    """A calendar date, or None for anything absent, a sentinel or impossible."""
    if isinstance(value, datetime):
        return value.date() if value.year >= MIN_YEAR else None
    if isinstance(value, date):
        return value if value.year >= MIN_YEAR else None
    if not isinstance(value, str):
        return None
    return _parse_text(value)


@lru_cache(maxsize=4096)  # feeds repeat the same few dates across a whole inventory
def _parse_text(value: str) -> date | None:
    if match := _ISO.match(value):
        year, month, day = (int(part) for part in match.groups())
        return _make(year, month, day)
    if match := _US.match(value):
        month, day, year = (int(part) for part in match.groups())
        two_digits = len(match.group(3)) == 2  # "03/19/26"
        return _make(year + 2000 if two_digits else year, month, day)
    return None
