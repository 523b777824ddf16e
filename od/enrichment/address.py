"""Dealer addresses for the geocoder (pure): the query sent, and the cache key.

The key must be equal for addresses that differ only in how they were typed (case, accents,
punctuation, spacing, "Street" vs "St", "USA" vs "United States", ZIP+4 vs ZIP), so one
lookup serves them all; it need not be pretty.
"""

from __future__ import annotations

import re
import unicodedata

from od.events import Address

_ABBREVIATIONS = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "highway": "hwy",
    "parkway": "pkwy",
    "suite": "ste",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}
_COUNTRIES = {
    "us": "us",
    "usa": "us",
    "united states": "us",
    "united states of america": "us",
    "ca": "ca",
    "canada": "ca",
    "uk": "gb",
    "gb": "gb",
    "united kingdom": "gb",
    "great britain": "gb",
}
_NON_WORD = re.compile(r"[^a-z0-9]+")
_US_ZIP = re.compile(r"^(\d{5})\d{4}$")


def normalize_text(text: str) -> str:
    """Lower case, accents and punctuation removed, words abbreviated, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _NON_WORD.sub(" ", ascii_only).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def _postal(code: str) -> str:
    compact = normalize_text(code).replace(" ", "")
    zip5 = _US_ZIP.match(compact)
    return zip5.group(1) if zip5 else compact


def address_key(address: Address) -> str | None:
    """The geocode cache key, or ``None`` when the address cannot locate anything (no street
    and no city or postal code)."""
    street = normalize_text(address.street or "")
    city = normalize_text(address.city or "")
    postal = _postal(address.postal_code or "")
    if not (street or city or postal):
        return None
    country = normalize_text(address.country or "")
    region = normalize_text(address.region or "")
    return "|".join((street, city, region, postal, _COUNTRIES.get(country, country)))


def address_query(address: Address) -> str:
    """The free-form query a geocoder gets: ``street, city, region postal_code, country``."""
    region_postal = " ".join(p for p in (address.region, address.postal_code) if p and p.strip())
    parts = (address.street, address.city, region_postal, address.country)
    return ", ".join(p.strip() for p in parts if p and p.strip())
