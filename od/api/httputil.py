"""HTTP semantics the handlers share: content negotiation and conditional requests
(RFC 9110 §12 and §13)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response


def negotiate(accept: str | None, offers: Sequence[str]) -> str:
    """The offer the ``Accept`` header prefers (highest q, then the more specific range,
    then the server's order); the first offer when nothing matches or no header is sent."""
    if not accept:
        return offers[0]
    best: tuple[float, int, int] = (0.0, -1, 0)
    chosen = offers[0]
    for position, offer in enumerate(offers):
        kind = offer.split("/", 1)[0]
        for part in accept.split(","):
            media, *params = (p.strip() for p in part.split(";"))
            q = 1.0
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            media = media.lower()
            specificity = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            if specificity < 0 or q <= 0:
                continue
            score = (q, specificity, -position)
            if score > best:
                best, chosen = score, offer
    return chosen


@dataclass(frozen=True)
class Validators:
    """``ETag`` and ``Last-Modified`` of a representation derived from projection state."""

    etag: str
    last_modified: datetime | None

    @classmethod
    def of(cls, *state: object, last_modified: datetime | None) -> Validators:
        digest = hashlib.blake2b(repr(state).encode(), digest_size=16).hexdigest()
        # Weak: the same data may be sent compressed or not by a proxy.
        return cls(f'W/"{digest}"', last_modified)

    def headers(self, cache_control: str = "public, max-age=60") -> dict[str, str]:
        headers = {"ETag": self.etag, "Cache-Control": cache_control}
        if self.last_modified is not None:
            headers["Last-Modified"] = format_datetime(self.last_modified.astimezone(UTC), usegmt=True)
        return headers

    def not_modified(self, request: Request) -> bool:
        """``If-None-Match`` (weak comparison) wins over ``If-Modified-Since``."""
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or self.etag.removeprefix("W/") in tags
        since = request.headers.get("if-modified-since")
        if since is None or self.last_modified is None:
            return False
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return self.last_modified.replace(microsecond=0) <= when

    def response_304(self, extra: dict[str, str] | None = None) -> Response:
        return Response(status_code=304, headers={**self.headers(), **(extra or {})})
