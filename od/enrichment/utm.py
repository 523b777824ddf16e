"""UTM parameters on a short link's destination (pure).

The destination string is the cache key for link reuse, so appending must be deterministic
and idempotent, and must leave the dealer's own query untouched byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit


def utm_params(config: Mapping[str, object]) -> dict[str, str]:
    """The dealer's UTM config as query parameters: ``source`` and ``utm_source`` both mean
    ``utm_source``; empty values are dropped."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if value is None or str(value) == "":
            continue
        name = key if key.startswith("utm_") else f"utm_{key}"
        params[name] = str(value)
    return params


def append_utm(url: str, utm: Mapping[str, str]) -> str:
    """``url`` with ``utm`` in its query: the dealer config's values replace same-named
    parameters already there; other parameters and the fragment are kept as written."""
    if not utm:
        return url
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.partition("=")[0]) not in utm]
    added = [f"{quote(k, safe='')}={quote(utm[k], safe='')}" for k in sorted(utm)]
    return urlunsplit(parts._replace(query="&".join(kept + added)))
