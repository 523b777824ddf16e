"""The pure parts of the enrichment workers: UTM parameters, address keys, IndexNow batching,
Retry-After."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from od.enrichment.address import address_key, address_query, normalize_text
from od.enrichment.batching import Batcher, change_urls, host_of, sitemap_url, vehicle_url
from od.enrichment.http import parse_retry_after
from od.enrichment.shortlinks import wants_link
from od.enrichment.utm import append_utm, utm_params
from od.events import Address, VehicleChanged, VehicleRecord

# --- UTM -------------------------------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
_value = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s)
_query = st.lists(st.tuples(_word, _word), max_size=4).map(lambda ps: "&".join(f"{k}={v}" for k, v in ps))
_url = st.builds(
    lambda host, path, query, frag: f"https://{host}.example.com/{path}" + (f"?{query}" if query else "") + frag,
    _word,
    _word,
    _query,
    st.sampled_from(["", "#photos"]),
)
_utm = st.dictionaries(st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "utm_content"]), _value, max_size=4)


@given(_url, _utm)
def test_append_utm_is_idempotent_and_keeps_the_rest(url: str, utm: dict[str, str]) -> None:
    once = append_utm(url, utm)
    assert append_utm(once, utm) == once
    parts, original = urlsplit(once), urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        original.scheme,
        original.netloc,
        original.path,
        original.fragment,
    )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert {k: v for k, v in pairs if k in utm} == utm
    kept = [(k, v) for k, v in parse_qsl(original.query, keep_blank_values=True) if k not in utm]
    assert [(k, v) for k, v in pairs if k not in utm] == kept


@given(_url)
def test_no_utm_leaves_the_url_byte_for_byte(url: str) -> None:
    assert append_utm(url, {}) == url


def test_append_utm_replaces_the_feeds_own_utm_and_encodes() -> None:
    url = "https://d.example/v/1?utm_source=homenet&color=red%20blue"
    got = append_utm(url, utm_params({"source": "open dealer", "utm_medium": "short&link", "campaign": ""}))
    assert got == "https://d.example/v/1?color=red%20blue&utm_medium=short%26link&utm_source=open%20dealer"


# --- addresses --------------------------------------------------------------------------------


def test_address_key_ignores_how_it_was_typed() -> None:
    a = Address(street="1200 North Main Street", city="Seattle", region="WA", postal_code="98101-1234", country="USA")
    b = Address(street="1200 n. main st", city="SEATTLE ", region="wa", postal_code="98101", country="United States")
    c = Address(street="1200 N Main St", city="Séattle", region="WA", postal_code="98101", country="us")
    assert address_key(a) == address_key(b) == address_key(c)
    assert address_key(a) != address_key(Address(street="1201 N Main St", city="Seattle", region="WA"))
    assert address_key(Address(region="WA", country="US")) is None
    assert address_query(a) == "1200 North Main Street, Seattle, WA 98101-1234, USA"


_address = st.builds(
    Address,
    street=st.none() | st.text(max_size=40),
    city=st.none() | st.text(max_size=20),
    region=st.none() | st.text(max_size=10),
    postal_code=st.none() | st.text(max_size=10),
    country=st.none() | st.text(max_size=20),
)


@given(
    _address, st.sampled_from([str.upper, str.lower, str.title, lambda s: f"  {s}. ", lambda s: s.replace(" ", "  ")])
)
def test_address_key_is_stable_under_case_spacing_and_punctuation(address: Address, typing: object) -> None:
    def retype(value: str | None) -> str | None:
        return None if value is None else typing(value)  # type: ignore[operator]

    retyped = Address(
        street=retype(address.street),
        city=retype(address.city),
        region=retype(address.region),
        postal_code=retype(address.postal_code),
        country=retype(address.country),
    )
    # Case mapping of a few exotic characters is not reversible; ASCII is what addresses use.
    if all(
        v is None or v.isascii()
        for v in (address.street, address.city, address.region, address.postal_code, address.country)
    ):
        assert address_key(retyped) == address_key(address)


@given(st.text(max_size=60))
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip() and "  " not in once


# --- IndexNow ---------------------------------------------------------------------------------


def _record(vehicle_id: str, status: str = "available") -> VehicleRecord:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return VehicleRecord(
        vehicle_id=vehicle_id,
        dealer_id="d1",
        status=status,  # type: ignore[arg-type]
        first_seen_at=now,
        updated_at=now,
        dealer_url="https://d1.example/v/1",
    )


def _change(vehicle_id: str, change: str, fields: list[str] | None = None) -> VehicleChanged:
    return VehicleChanged(
        dealer_id="d1",
        vehicle_id=vehicle_id,
        change=change,  # type: ignore[arg-type]
        vehicle=_record(vehicle_id, "sold" if change == "sold" else "available"),
        changed_fields=fields or [],
    )


def test_change_urls_public_fields_only_and_sold_included() -> None:
    base = "https://cars.example.org/"
    page = "https://cars.example.org/v1/vehicles/d1%3Astock%3AA%2F1"
    assert vehicle_url(base, "d1:stock:A/1") == page
    assert change_urls(_change("d1:stock:A/1", "sold"), base) == (page, sitemap_url(base))
    assert change_urls(_change("d1:stock:A/1", "created"), base)[0] == page
    assert change_urls(_change("d1:stock:A/1", "updated", ["price"]), base)
    assert change_urls(_change("d1:stock:A/1", "updated", ["sources", "warnings"]), base) == ()
    assert change_urls(_change("d1:stock:A/1", "updated", []), base), "an update naming no field counts"


def test_wants_link_only_for_available_vehicles_with_a_new_page() -> None:
    assert wants_link(_change("v", "created"))
    assert wants_link(_change("v", "relisted"))
    assert wants_link(_change("v", "updated", ["dealer_url", "price"]))
    assert not wants_link(_change("v", "updated", ["price"]))
    assert not wants_link(_change("v", "sold"))


_hosts = st.sampled_from(["a.example", "b.example", "c.example"])
_changes = st.lists(
    st.tuples(_hosts, st.lists(st.integers(0, 60), min_size=1, max_size=4)),
    max_size=80,
)


@given(_changes, st.integers(2, 12))
def test_batcher_sends_every_change_once_within_the_limit(changes: list[tuple[str, list[int]]], limit: int) -> None:
    batcher: Batcher[int] = Batcher(max_urls=limit, interval=10.0)
    batches = []
    for token, (host, pages) in enumerate(changes):
        urls = [f"https://{host}/v/{p}" for p in pages][:limit]
        batches += batcher.add(token, host, urls, now=0.0)
    batches += batcher.drain()
    assert sorted(t for b in batches for t in b.tokens) == list(range(len(changes)))
    for batch in batches:
        assert 0 < len(batch.urls) <= limit
        assert {host_of(u) for u in batch.urls} == {batch.host}
        # each token's URLs travel in its batch
        for token in batch.tokens:
            host, pages = changes[token]
            assert {f"https://{host}/v/{p}" for p in pages[:limit]} <= batch.urls.keys()
    # no more requests than needed: a batch is closed only when the next change did not fit
    per_host: dict[str, list[int]] = {}
    for batch in batches:
        per_host.setdefault(batch.host, []).append(len(batch.urls))
    for host, sizes in per_host.items():
        distinct = {f"https://{h}/v/{p}" for h, ps in changes if h == host for p in ps[:limit]}
        assert len(sizes) >= math.ceil(len(distinct) / limit)
        assert all(size > limit - 4 for size in sizes[:-1]), "only the last batch of a host may be short"


def test_batcher_dedupes_and_flushes_by_age() -> None:
    batcher: Batcher[str] = Batcher(max_urls=10_000, interval=2.0, quiet=0.5)
    sitemap = "https://h.example/sitemap.xml"
    for i in range(5):  # a trickle, never quiet for 0.5 s
        assert batcher.add(f"m{i}", "h.example", ["https://h.example/v/1", sitemap], now=i * 0.4) == []
        assert batcher.due(now=i * 0.4 + 0.3) == []
    (batch,) = batcher.due(now=2.0)
    assert list(batch.urls) == ["https://h.example/v/1", sitemap] and batch.tokens == [f"m{i}" for i in range(5)]
    assert len(batcher) == 0
    batcher.add("m5", "h.example", [sitemap], now=3.0)
    assert batcher.due(now=3.4) == []
    assert [b.tokens for b in batcher.due(now=3.5)] == [["m5"]], "quiet: the backlog is drained"


def test_batcher_fills_requests_of_exactly_ten_thousand() -> None:
    batcher: Batcher[int] = Batcher()
    sitemap = "https://h.example/sitemap.xml"
    full = [b for i in range(30_000) for b in batcher.add(i, "h.example", [f"https://h.example/v/{i}", sitemap], 0.0)]
    assert [len(b.urls) for b in full] == [10_000, 10_000, 10_000]
    assert len(batcher.drain()[0].urls) == 30_000 - 3 * 9_999 + 1


# --- Retry-After ------------------------------------------------------------------------------


@given(st.integers(0, 10**6))
def test_retry_after_seconds(n: int) -> None:
    assert parse_retry_after(str(n), default=5.0) == n


def test_retry_after_date_missing_and_garbage() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, default=5.0, now=now) == 90.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", default=5.0, now=now) == 0.0
    assert parse_retry_after(None, default=5.0) == 5.0
    assert parse_retry_after("soon", default=7.0) == 7.0
