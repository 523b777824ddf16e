"""Make, model, body style, fuel, drivetrain and transmission through small data tables.

The tables (``tables/*.csv``) are data, not code: add a spelling there, not here.
``exact`` rows match the whole value, ``word`` rows match whole words anywhere in it and
are tried in file order, so "Crew Cab Pickup" is a Pickup and "Plug-In Hybrid" is not a
Hybrid. Values no table knows are kept, tidied, because a new spelling is still information.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from od.normalize.text import clean_text

_NOT_WORD = re.compile(r"[^0-9a-z]+")
_VOWEL = re.compile(r"[aeiouy]")
_CASE_PIECE = re.compile(r"([^\W\d_]+|[\w]+)", re.UNICODE)
_CACHE = 4096


def _key(text: str) -> str:
    """Lower-case words only: "MERCEDES-BENZ" and "Mercedes Benz" share a key."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def _rows(name: str) -> list[list[str]]:
    text = files("od.normalize").joinpath("tables", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.reader(lines))[1:]


@cache
def absent_values() -> frozenset[str]:
    """Placeholders such as ``N/A`` or ``no_color`` that mean "not given"."""
    text = files("od.normalize").joinpath("tables", "absent.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class _Names:
    """Canonical spellings and their aliases (``makes.csv``, ``models.csv``)."""

    by_key: dict[str, str]

    @classmethod
    def load(cls, name: str) -> _Names:
        by_key: dict[str, str] = {}
        for canonical, aliases in _rows(name):
            for alias in (canonical, *aliases.split("|")):
                if alias.strip():
                    by_key[_key(alias)] = canonical
        return cls(by_key)


@dataclass(frozen=True)
class _Rules:
    """``exact`` and ordered ``word`` rules (body styles, fuel, drivetrain, transmission)."""

    exact: dict[str, str]
    words: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, name: str) -> _Rules:
        exact: dict[str, str] = {}
        words: list[tuple[str, str]] = []
        for match, pattern, canonical in _rows(name):
            if match == "exact":
                exact[_key(pattern)] = canonical
            else:
                words.append((f" {_key(pattern)} ", canonical))
        return cls(exact, tuple(words))

    def find(self, key: str) -> str | None:
        found = self.exact.get(key)
        if found is not None:
            return found
        padded = f" {key} "
        for pattern, canonical in self.words:
            if pattern in padded:
                return canonical
        return None


def proper_case(text: str, *, acronyms: bool = True) -> str:
    """Fix a value written all upper or all lower case ("ACCORD SEDAN EX-L" -> "Accord Sedan EX-L").

    With ``acronyms``, short letter groups stay capitals (trims such as LX, GT, SLE;
    "cr-v" -> "CR-V"); without, as for colors, every word is capitalized ("RED" -> "Red").
    Mixed case is the source's own spelling and is kept.
    """
    if not (text.isupper() or text.islower()):
        return text
    upper = text.isupper()

    def fix(match: re.Match[str]) -> str:
        piece = match.group()
        if not piece.isalpha():
            return piece.upper() if piece[0].isalpha() else piece  # "rx350" -> "RX350", "328i" stays
        short = acronyms and (len(piece) <= 2 or (len(piece) == 3 and (upper or not _VOWEL.search(piece.lower()))))
        return piece.upper() if short else piece.capitalize()

    return _CASE_PIECE.sub(fix, text)


def _tidy(value: object) -> str | None:
    text = clean_text(value, limit=200)
    if text is None or text.lower() in absent_values():
        return None
    return text


def _canonical_name(table: Callable[[], _Names]) -> Callable[[object], str | None]:
    @lru_cache(maxsize=_CACHE)
    def lookup(text: str) -> str | None:
        tidy = _tidy(text)
        if tidy is None:
            return None
        return table().by_key.get(_key(tidy)) or proper_case(tidy)

    def canonical(value: object) -> str | None:
        return lookup(value if isinstance(value, str) else str(value)) if isinstance(value, str | int) else None

    return canonical


def _canonical_rule(table: Callable[[], _Rules]) -> Callable[[object], str | None]:
    @lru_cache(maxsize=_CACHE)
    def lookup(text: str) -> str | None:
        tidy = _tidy(text)
        if tidy is None:
            return None
        return table().find(_key(tidy)) or proper_case(tidy)

    def canonical(value: object) -> str | None:
        return lookup(value if isinstance(value, str) else str(value)) if isinstance(value, str | int) else None

    return canonical


_makes = cache(lambda: _Names.load("makes.csv"))
_models = cache(lambda: _Names.load("models.csv"))
_body_styles = cache(lambda: _Rules.load("body_styles.csv"))
_fuel_types = cache(lambda: _Rules.load("fuel_types.csv"))
_drivetrains = cache(lambda: _Rules.load("drivetrains.csv"))
_transmissions = cache(lambda: _Rules.load("transmissions.csv"))

canonical_make = _canonical_name(_makes)
canonical_make.__doc__ = "HONDA/honda -> Honda, MERCEDES-BENZ -> Mercedes-Benz, GMC stays GMC."
canonical_model = _canonical_name(_models)
canonical_model.__doc__ = "crv -> CR-V, ACCORD SEDAN -> Accord Sedan; known spellings from models.csv."
canonical_body_style = _canonical_rule(_body_styles)
canonical_body_style.__doc__ = "Crew Cab Pickup -> Pickup, 4dr Car -> Sedan, Sport Utility -> SUV."
canonical_fuel_type = _canonical_rule(_fuel_types)
canonical_fuel_type.__doc__ = "Gasoline Fuel -> Gasoline, Plug-In Hybrid stays apart from Hybrid."
canonical_drivetrain = _canonical_rule(_drivetrains)
canonical_drivetrain.__doc__ = "All-Wheel Drive/4MATIC -> AWD, 4x4 -> 4WD, Front Wheel Drive -> FWD."
canonical_transmission = _canonical_rule(_transmissions)
canonical_transmission.__doc__ = "8-Speed Automatic -> Automatic, Xtronic CVT -> CVT, 6-Speed M/T -> Manual."
