"""Splitting a batch by dealer into lanes applied at once, each in its own transaction: while
Postgres applies one, Python merges another. A dealer's events stay in one lane, in stream
order, and events of different dealers never touch the same rows (vehicles, observations and
completions are all keyed by dealer), so the result is the one-lane result."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def by_dealer(items: Iterable[T], lanes: int, dealer_of: Callable[[T], str]) -> list[list[T]]:
    """``lanes`` lists, each in the items' order; a dealer's items all in the same one."""
    split: list[list[T]] = [[] for _ in range(lanes)]
    for item in items:
        split[zlib.crc32(dealer_of(item).encode()) % lanes].append(item)
    return split
