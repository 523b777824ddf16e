"""HomeNet records (CSV export rows, SOAP ``CompressedVehicles`` rows) -> raw contract dicts.

Both use HomeNet's field names ("Stock", "SellingPrice", "Internet_Price", "ImageList"),
spelled with varying case and punctuation; ``tables/homenet_fields.csv`` maps them. The
advertised ``price`` is the first *given* of Internet_Price, SellingPrice and MSRP, because
HomeNet writes 0 for "not set"; the source's other prices stay in ``other_prices``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files

from od.normalize.numbers import money

PRICE_ORDER = ("internet_price", "selling_price", "msrp")
"""Which HomeNet price is "the" price: the first one that is given (not 0 or empty)."""
OTHER_PRICES = ("internet_price", "selling_price", "book_value")
"""Prices kept apart in ``other_prices``. Invoice (the dealer's cost) is left out on purpose."""

_UNSET = frozenset(("", "0", "0.00"))  # what HomeNet writes for "no such price"
_NOT_WORD = re.compile(r"[^0-9a-z#]+")


def field_key(name: str) -> str:
    """ "Internet_Price", "internet price" and "InternetPrice" -> "internetprice"."""
    return _NOT_WORD.sub("", name.strip().lstrip("\ufeff").lower())


@cache
def homenet_fields() -> dict[str, str]:
    """HomeNet field key (see ``field_key``) -> contract or intermediate field name."""
    text = files("od.normalize").joinpath("tables", "homenet_fields.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    return {field_key(name): field for field, names in rows[1:] for name in names.split("|")}


def _engine(cylinders: object, displacement: object) -> str | None:
    parts = []
    if isinstance(displacement, str) and displacement.strip():
        size = displacement.strip()
        parts.append(size if size[-1:].isalpha() else f"{size}L")
    if isinstance(cylinders, str) and cylinders.strip() and cylinders.strip() != "0":
        parts.append(f"{cylinders.strip()} Cyl")
    return " ".join(parts) or None


def homenet_raw(record: Mapping[str, object], columns: Mapping[str, str] | None = None) -> dict[str, object]:
    """One HomeNet record in contract field names, values untouched (normalized later).

    ``columns`` (record key -> field, from ``homenet_columns``) saves the lookups for a file
    whose rows share one header.
    """
    if columns is None:
        columns = homenet_columns(record.keys())
    fields: dict[str, object] = {}
    for name, value in record.items():
        field = columns.get(name)
        if field is not None and field not in fields:
            fields[field] = value
    return combine(fields)


def _is_price(value: object) -> bool:
    if isinstance(value, str) and value in _UNSET:
        return False
    return money(value) is not None


def combine(fields: dict[str, object]) -> dict[str, object]:
    """HomeNet's intermediate fields (several prices, engine parts) folded into contract ones."""
    prices = {name: value for name in OTHER_PRICES if _is_price(value := fields.pop(name, None))}
    msrp = fields.get("msrp")
    candidates = {**prices, "msrp": msrp} if _is_price(msrp) else prices
    chosen = next((name for name in PRICE_ORDER if name in candidates), None)
    if chosen is not None:
        fields["price"] = candidates[chosen]
    if prices:
        fields["other_prices"] = prices
    cylinders, displacement = fields.pop("engine_cylinders", None), fields.pop("engine_displacement", None)
    if not fields.get("engine"):
        engine = _engine(cylinders, displacement)
        if engine:
            fields["engine"] = engine
    categorized = fields.pop("categorized_options", None)
    if not fields.get("options") and categorized:
        fields["options"] = categorized
    return fields


def homenet_columns(names: Iterable[object]) -> dict[str, str]:
    """Record key -> field for the keys HomeNet's field table knows (others are dropped)."""
    table = homenet_fields()
    return {name: table[field_key(name)] for name in names if isinstance(name, str) and field_key(name) in table}
