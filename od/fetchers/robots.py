"""robots.txt (RFC 9309) for the scraper: each host's file is read once per run, its rules for
our user agent decide which pages may be fetched, its ``Crawl-delay`` slows the run's requests
to that host and its ``Sitemap:`` lines are offered for discovery.

Parsing is protego's (Scrapy's parser): unlike ``urllib.robotparser`` it applies the longest
matching rule (an ``Allow`` beats a shorter ``Disallow``), the ``*`` and ``$`` wildcards, and
matches our product token inside the full User-Agent string, falling back to the ``*`` group.

A robots.txt that is "unavailable" (4xx other than 429) allows everything. One that is
"unreachable" (5xx, 429, timeout, connection failure, after the usual retries) means complete
disallow: the run fails with a ``TransientSourceError`` saying so, before any page is fetched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from od.fetchers.base import Http
from od.fetchers.errors import TransientSourceError
from od.log import get_logger

log = get_logger(__name__)

UNAVAILABLE = tuple(status for status in range(400, 500) if status != 429)
"""robots.txt answers that mean "no rules" (RFC 9309 §2.3.1.3)."""


@dataclass(frozen=True)
class Robots:
    """One host's robots.txt as it applies to ``user_agent``; no rules allow everything."""

    user_agent: str
    rules: Protego | None = None

    @classmethod
    def parse(cls, body: bytes, user_agent: str) -> Robots:
        return cls(user_agent, Protego.parse(body.decode("utf-8", errors="replace")))

    def allows(self, url: str) -> bool:
        return self.rules is None or self.rules.can_fetch(url, self.user_agent)

    @property
    def crawl_delay(self) -> float | None:
        return self.rules.crawl_delay(self.user_agent) if self.rules is not None else None

    @property
    def sitemaps(self) -> list[str]:
        return list(self.rules.sitemaps) if self.rules is not None else []


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def read_robots(http: Http, site_origin: str) -> Robots:
    """``<site_origin>/robots.txt`` for the run's user agent; raises when it is unreachable."""
    url = f"{site_origin}/robots.txt"
    user_agent = http.settings.fetch_user_agent
    try:
        page = await http.get(url, accept=UNAVAILABLE)
    except TransientSourceError as exc:
        raise TransientSourceError(
            exc.host,
            f"robots.txt unreachable ({exc.reason}): RFC 9309 means complete disallow, nothing was crawled",
            exc.retry_after,
        ) from None
    return Robots(user_agent) if page.status in UNAVAILABLE else Robots.parse(page.body, user_agent)


@dataclass
class RobotsRules:
    """The robots.txt of every host one run fetches from, each read once, its ``Crawl-delay``
    applied to the run's per-host request rate (the stricter of the two wins)."""

    http: Http
    _hosts: dict[str, asyncio.Task[Robots]] = field(default_factory=dict)

    async def of(self, url: str) -> Robots:
        key = origin(url)
        if key not in self._hosts:
            self._hosts[key] = asyncio.ensure_future(self._read(key))
        return await self._hosts[key]

    async def allows(self, url: str) -> bool:
        return (await self.of(url)).allows(url)

    async def _read(self, site_origin: str) -> Robots:
        robots = await read_robots(self.http, site_origin)
        if robots.crawl_delay:
            delay = min(robots.crawl_delay, self.http.settings.scrape_max_crawl_delay_s)
            if delay < robots.crawl_delay:
                log.warning("scrape.crawl_delay_capped", site=site_origin, asked=robots.crawl_delay, used=delay)
            self.http.slow_down(urlsplit(site_origin).netloc, delay)
        return robots

    async def close(self) -> None:
        for task in self._hosts.values():
            task.cancel()
        await asyncio.gather(*self._hosts.values(), return_exceptions=True)
