"""IndexNow: which URLs a change submits, and how they are batched (pure).

A batch is one POST: at most ``max_urls`` distinct URLs, all on one host. URLs are buffered
per host, deduplicated, and a batch is released when the next change would overflow it, when
its oldest change has waited ``interval`` seconds, or when no change came for ``quiet``
seconds (a backlog just drained: waiting longer gains nothing). Every change (an opaque token,
the message to acknowledge) belongs to exactly one batch, the one that carries all its URLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from od.events import VehicleFields

MAX_URLS = 10_000
"""IndexNow's limit per request."""

PUBLIC_FIELDS = frozenset(VehicleFields.__struct_fields__) | {"status"}
"""Fields whose change alters what a search engine sees on the vehicle's page."""


def vehicle_url(base_url: str, vehicle_id: str) -> str:
    """The vehicle's public URL: ``{base}/v1/vehicles/{vehicle_id}``, the id percent-encoded
    as one path segment (``:`` and ``/`` included)."""
    return f"{base_url.rstrip('/')}/v1/vehicles/{quote(vehicle_id, safe='')}"


def sitemap_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/sitemap.xml"


def key_location(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/{key}.txt"


class ChangeRef(Protocol):
    """What IndexNow reads of a ``VehicleChanged`` (the event, or a lighter view of it)."""

    @property
    def vehicle_id(self) -> str: ...

    @property
    def change(self) -> str: ...

    @property
    def changed_fields(self) -> Sequence[str]: ...


def change_urls(event: ChangeRef, base_url: str) -> tuple[str, ...]:
    """The URLs a change submits: the vehicle's page and the sitemap; none for an update
    that touched no public field (an update that names no field counts as public)."""
    if event.change == "updated" and event.changed_fields and PUBLIC_FIELDS.isdisjoint(event.changed_fields):
        return ()
    return (vehicle_url(base_url, event.vehicle_id), sitemap_url(base_url))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    host: str
    urls: dict[str, None] = field(default_factory=dict)  # an ordered set
    tokens: list[T] = field(default_factory=list)
    started: float = 0.0
    last: float = 0.0


@dataclass
class Batcher(Generic[T]):
    """Buffers changes into per-host batches; see the module docstring."""

    max_urls: int = MAX_URLS
    interval: float = 2.0
    quiet: float = 0.5
    _open: dict[str, Batch[T]] = field(default_factory=dict)

    def add(self, token: T, host: str, urls: Iterable[str], now: float) -> list[Batch[T]]:
        """Buffer one change, whose URLs are all on ``host``; returns the batches it made full
        (to send now)."""
        ready: list[Batch[T]] = []
        distinct = dict.fromkeys(urls)
        if len(distinct) > self.max_urls:
            raise ValueError(f"one change has more than {self.max_urls} URLs")
        batch = self._open.get(host)
        if batch is not None and len(batch.urls) + sum(u not in batch.urls for u in distinct) > self.max_urls:
            ready.append(self._open.pop(host))
            batch = None
        if batch is None:
            batch = self._open[host] = Batch(host, started=now)
        batch.urls.update(distinct)
        batch.tokens.append(token)
        batch.last = now
        if len(batch.urls) >= self.max_urls:
            ready.append(self._open.pop(host))
        return ready

    def due(self, now: float) -> list[Batch[T]]:
        """Batches whose oldest change waited ``interval``, or whose newest ``quiet``."""
        hosts = [h for h, b in self._open.items() if now - b.started >= self.interval or now - b.last >= self.quiet]
        return [self._open.pop(h) for h in hosts]

    def drain(self) -> list[Batch[T]]:
        batches = list(self._open.values())
        self._open.clear()
        return batches

    def __len__(self) -> int:
        return sum(len(b.tokens) for b in self._open.values())
