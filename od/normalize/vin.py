"""VIN validation per ISO 3779 / 49 CFR 565, tuned for what dealers really publish.

Only the shape is a hard rule (17 characters of ``A-HJ-NPR-Z0-9``): anything else is not a
VIN, so the vehicle falls back to its stock number. Real, legal VINs fail the check digit
(NHTSA exceptions, Canadian and export cars) and dealers list cars still in production under
placeholder VINs; those are kept and flagged, never rejected.
"""

from __future__ import annotations

import re
from operator import mul

import msgspec

from od.events.model import FieldWarning

_SHAPE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_ILLEGAL = re.compile(r"[^A-HJ-NPR-Z0-9]")
_LETTER = re.compile(r"[A-Z]")

# 49 CFR 565.15(c): transliteration and position weights.
_VALUES = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_MODEL_YEARS = frozenset("ABCDEFGHJKLMNPRSTVWXY123456789")
_MAX_DETAIL = 40


class VinCheck(msgspec.Struct, frozen=True):
    """The VIN to use (None when the text is not a VIN at all) and what was noticed."""

    vin: str | None
    warnings: list[FieldWarning] = []


def check_digit(vin: str) -> str:
    """The expected 9th character of a 17-character VIN of legal characters."""
    total = sum(map(mul, map(_VALUES.__getitem__, vin), _WEIGHTS))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…")


def _is_placeholder(vin: str) -> bool:
    """Letters where a serial number must be digits, or a serial of zeros.

    Makers of 1,000+ vehicles a year (3rd character not ``9``) have a numeric serial in
    positions 13-17; smaller makers in 15-17 (49 CFR 565.15(d)).
    """
    serial = vin[12:] if vin[2] != "9" else vin[14:]
    return _LETTER.search(serial) is not None or vin[11:] == "000000"


def check_vin(value: object) -> VinCheck:
    """Trim, upper-case and check a VIN; never raises."""
    if value is None:
        return VinCheck(None)
    text = value if isinstance(value, str) else str(value)
    vin = text.strip().upper()
    if len(vin) != 17:
        detail = f"{_shown(text)} has {len(vin)} characters, not 17" if vin else "empty"
        return VinCheck(None, [FieldWarning(field="vin", code="wrong_length", detail=detail)])
    if not _SHAPE.match(vin):
        bad = "".join(dict.fromkeys(_ILLEGAL.findall(vin)))
        detail = f"{_shown(text)} contains {bad!r} (I, O, Q and punctuation are never used)"
        return VinCheck(None, [FieldWarning(field="vin", code="illegal_character", detail=detail)])
    warnings: list[FieldWarning] = []
    expected = check_digit(vin)
    if vin[8] != expected:
        detail = f"position 9 is {vin[8]!r}, the check digit computes to {expected!r}"
        warnings.append(FieldWarning(field="vin", code="check_digit", detail=detail))
    if vin[9] not in _MODEL_YEARS:
        detail = f"position 10 is {vin[9]!r}, not a model-year code"
        warnings.append(FieldWarning(field="vin", code="model_year_character", detail=detail))
    if _is_placeholder(vin):
        detail = "serial number is not numeric: a vehicle still in production?"
        warnings.append(FieldWarning(field="vin", code="placeholder", detail=detail))
    return VinCheck(vin, warnings)
