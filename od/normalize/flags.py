"""Yes/no flags and the vehicle condition, spelled every way feeds spell them."""

from __future__ import annotations

from od.events.model import Condition

_TRUE = frozenset({"true", "yes", "y", "1", "t", "on", "x"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", ""})

_CONDITIONS: dict[str, Condition] = {
    "new": "new",
    "n": "new",
    "newcondition": "new",
    "used": "used",
    "u": "used",
    "usedcondition": "used",
    "preowned": "used",
    "pre-owned": "used",
    "refurbishedcondition": "used",
    "damagedcondition": "used",
    # private-seller grades (Craigslist): every one of them is a used car
    "like new": "used",
    "excellent": "used",
    "good": "used",
    "fair": "used",
    "poor": "used",
    "salvage": "used",
    "certified": "certified",
    "c": "certified",
    "cpo": "certified",
    "certifiedpreowned": "certified",
    "certified pre-owned": "certified",
    "certified preowned": "certified",
    "certified used": "certified",
}


def boolean(value: object) -> bool | None:
    """True/False/Yes/No/y/n/1/0 (any case); None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 if value in (0, 1) else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE and text:
        return False
    return None


def condition(value: object, certified: object = None) -> Condition | None:
    """``new``, ``used`` or ``certified``; a true ``certified`` flag upgrades used to certified."""
    found: Condition | None = None
    if isinstance(value, str):
        text = value.strip().lower()
        text = text.rsplit("/", 1)[-1]  # https://schema.org/UsedCondition
        found = _CONDITIONS.get(text) or _CONDITIONS.get(text.replace(" ", "").replace("-", ""))
    if found in ("used", None) and boolean(certified):
        return "certified"  # a certified car is a used one, even when the feed did not say "used"
    return found
