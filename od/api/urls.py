"""Canonical public URLs of the site's pages (what sitemaps, JSON-LD and IndexNow name)."""

from __future__ import annotations

from urllib.parse import quote


def vehicle_page(base_url: str, vehicle_id: str) -> str:
    return f"{base_url.rstrip('/')}/vehicles/{quote(vehicle_id, safe=':')}"


def dealer_page(base_url: str, dealer_id: str) -> str:
    return f"{base_url.rstrip('/')}/dealers/{quote(dealer_id, safe='')}"


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path
