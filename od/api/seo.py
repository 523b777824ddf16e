"""For search engines and AI crawlers: sitemaps (sitemaps.org 0.9), robots.txt (RFC 9309)
and the IndexNow key file.

Sitemaps: an index at ``/sitemap.xml`` whose children sit at the root (a sitemap may only list
URLs under its own directory): ``/sitemap-pages.xml`` (always there, so even an empty
database gives a valid, non-empty index), ``/sitemap-dealers-N.xml`` and
``/sitemap-vehicles-N.xml``, each at most 50,000 URLs, split in key order. A child's
``lastmod`` in the index is the newest inside it; unchanged data gives byte-identical files
(and the same ``ETag``, so crawlers get 304s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from lxml import etree
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from od.api import store, urls
from od.api.httputil import Validators
from od.api.problems import Problem
from od.api.routing import Operation, runtime

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_URLS = 50_000
XML = "application/xml"
CRAWLERS = (
    "GPTBot",
    "OAI-SearchBot",
    "ChatGPT-User",
    "ClaudeBot",
    "Claude-SearchBot",
    "Claude-User",
    "PerplexityBot",
    "Perplexity-User",
    "Googlebot",
    "bingbot",
)
_PAGE_URL = {"vehicles": urls.vehicle_page, "dealers": urls.dealer_page}


# --- pure builders ------------------------------------------------------------------------------


def w3c_datetime(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(root_tag: str, child_tag: str, entries: Iterable[tuple[str, datetime | None]]) -> bytes:
    root = etree.Element(f"{{{SITEMAP_NS}}}{root_tag}", nsmap={None: SITEMAP_NS})
    for loc, lastmod in entries:
        child = etree.SubElement(root, f"{{{SITEMAP_NS}}}{child_tag}")
        etree.SubElement(child, f"{{{SITEMAP_NS}}}loc").text = loc
        if lastmod is not None:
            etree.SubElement(child, f"{{{SITEMAP_NS}}}lastmod").text = w3c_datetime(lastmod)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


def urlset(entries: Iterable[tuple[str, datetime | None]]) -> bytes:
    return _xml("urlset", "url", entries)


def sitemap_index(entries: Iterable[tuple[str, datetime | None]]) -> bytes:
    return _xml("sitemapindex", "sitemap", entries)


def robots_txt(sitemap_url: str, disallow: Sequence[str]) -> str:
    """One group per named crawler (a named group does not inherit ``*``: RFC 9309 §2.2.1),
    each allowing the site and repeating the private paths."""
    rules = ["Allow: /", *(f"Disallow: {path}" for path in disallow)]
    groups = [[f"User-agent: {agent}", *rules] for agent in (*CRAWLERS, "*")]
    return "\n\n".join("\n".join(group) for group in groups) + f"\n\nSitemap: {sitemap_url}\n"


# --- handlers -------------------------------------------------------------------------------------


class ChildPath(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    number: Annotated[int, Meta(ge=1, le=100_000)]


class KeyPath(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    indexnow_key: Annotated[str, Meta(max_length=200, pattern=store.PRINTABLE)]


async def _state(conn: Any) -> store.ProjectionState:
    state = await store.projection_state(conn)
    assert state is not None  # the whole projection always has a state
    return state


async def _chunks(request: Request, conn: Any, kind: str, state: store.ProjectionState) -> list[tuple[str, Any]]:
    """The children of a kind, cached per app until the projection state moves."""
    cache: dict[str, tuple[Any, list[tuple[str, Any]]]] = request.app.state.sitemap_cache
    cached = cache.get(kind)
    if cached is None or cached[0] != state:
        cached = (state, await store.sitemap_chunks(conn, kind, MAX_URLS))
        cache[kind] = cached
    return cached[1]


def _xml_response(body: bytes, validators: Validators) -> Response:
    return Response(body, media_type=XML, headers=validators.headers("public, max-age=3600"))


async def sitemap_xml(request: Request) -> Response:
    rt = runtime(request)
    base = rt.settings.public_base_url
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        state = await _state(conn)
        validators = Validators.of("index", state, last_modified=state.last_modified)
        if validators.not_modified(request):
            return validators.response_304()
        entries: list[tuple[str, datetime | None]] = [(urls.absolute(base, "/sitemap-pages.xml"), None)]
        for kind in ("dealers", "vehicles"):
            chunks = await _chunks(request, conn, kind, state)
            entries += [
                (urls.absolute(base, f"/sitemap-{kind}-{n}.xml"), lastmod) for n, (_, lastmod) in enumerate(chunks, 1)
            ]
    return _xml_response(sitemap_index(entries), validators)


async def sitemap_pages(request: Request) -> Response:
    base = runtime(request).settings.public_base_url
    return Response(urlset([(urls.absolute(base, "/"), None)]), media_type=XML)


async def _child(request: Request, kind: str, number: int) -> Response:
    rt = runtime(request)
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        state = await _state(conn)
        validators = Validators.of(kind, number, state, last_modified=state.last_modified)
        chunks = await _chunks(request, conn, kind, state)
        if number > len(chunks):
            raise Problem(404, f"no sitemap {kind} {number}")
        if validators.not_modified(request):
            return validators.response_304()
        rows = await store.sitemap_entries(conn, kind, chunks[number - 1][0], MAX_URLS)
    page_url = _PAGE_URL[kind]
    base = rt.settings.public_base_url
    return _xml_response(urlset((page_url(base, key), at) for key, at in rows), validators)


async def sitemap_vehicles(request: Request, path: ChildPath) -> Response:
    return await _child(request, "vehicles", path.number)


async def sitemap_dealers(request: Request, path: ChildPath) -> Response:
    return await _child(request, "dealers", path.number)


async def robots(request: Request) -> Response:
    settings = runtime(request).settings
    operations: list[Operation] = request.app.state.operations
    paths = {op.openapi_path.split("{", 1)[0] for op in operations if op.auth} | {"/metrics"}
    private = sorted(p for p in paths if not any(p != q and p.startswith(q) for q in paths))
    text = robots_txt(urls.absolute(settings.public_base_url, "/sitemap.xml"), private)
    return PlainTextResponse(text, headers={"Cache-Control": "public, max-age=3600"})


async def indexnow_key(request: Request, path: KeyPath) -> Response:
    key = runtime(request).settings.indexnow_key
    if path.indexnow_key != key:
        raise Problem(404, "no such file")
    return PlainTextResponse(key)


_XML = {XML: {"type": "string"}}
_TEXT = {"text/plain": {"type": "string"}}
operations = [
    Operation("GET", "/sitemap.xml", sitemap_xml, "Sitemap index", responses=_XML, errors=(304,), tags=("seo",)),
    Operation("GET", "/sitemap-pages.xml", sitemap_pages, "Sitemap of the site's fixed pages", responses=_XML,
              tags=("seo",)),
    Operation("GET", "/sitemap-dealers-{number:int}.xml", sitemap_dealers, "Sitemap of dealer pages (one part)",
              params=ChildPath, responses=_XML, errors=(304, 404), tags=("seo",)),
    Operation("GET", "/sitemap-vehicles-{number:int}.xml", sitemap_vehicles, "Sitemap of vehicle pages (one part)",
              params=ChildPath, responses=_XML, errors=(304, 404), tags=("seo",)),
    Operation("GET", "/robots.txt", robots, "Crawling rules", responses=_TEXT, tags=("seo",)),
    # Last: it matches any /NAME.txt.
    Operation("GET", "/{indexnow_key}.txt", indexnow_key, "The IndexNow key", params=KeyPath, responses=_TEXT,
              errors=(404,), tags=("seo",)),
]  # fmt: skip
