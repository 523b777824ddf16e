"""The fetchers' pure parts: HomeNet's compressed document, schema.org extraction, sitemaps,
VINs in URLs, ``Retry-After`` and HTTP status classification."""

from __future__ import annotations

import gzip
import json
import string
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from od.fakes.homenet import compressed_document
from od.fetchers.base import retry_after_seconds, status_error
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.fetchers.homenet import parse_compressed
from od.fetchers.schema_org import extract, vin_in
from od.fetchers.scrape import sitemap_locations
from od.normalize.vin import check_digit

codes = st.text(string.ascii_lowercase, min_size=1, max_size=12)
values = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=40)


@given(st.lists(codes, min_size=1, max_size=8, unique=True).flatmap(
    lambda fields: st.tuples(st.just(fields), st.lists(st.fixed_dictionaries({f: values for f in fields}), max_size=5))
))  # fmt: skip
def test_compressed_document_round_trips(case: tuple[list[str], list[dict[str, str]]]) -> None:
    fields, records = case
    document = compressed_document({"r1": records}, fields)
    assert list(parse_compressed(document)) == [{f: r[f] for f in fields} for r in records]


def test_compressed_document_header_may_sit_below_the_root() -> None:
    doc = '<Root><F _0="VIN" _1="miles"/><V _0="A" _1="5"/><V _1="7"/></Root>'
    assert list(parse_compressed(doc)) == [{"vin": "A", "miles": "5"}, {"miles": "7"}]
    with pytest.raises(ValueError, match="no F element"):
        list(parse_compressed("<Root><V _0='x'/></Root>"))


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('<!DOCTYPE F [<!ENTITY a "aaaa">]><F _0="vin"><V _0="&a;"/></F>', "document type declaration"),
        ('<F _0="vin"><V _0="A"></F>', "not XML: mismatched tag"),
        ('<F _0="vin"><V _0="A"/>', "not XML: no element found"),
    ],
)
def test_compressed_document_that_is_not_plain_xml_is_refused(document: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        list(parse_compressed(document))


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@given(st.text(_VIN_CHARS, min_size=17, max_size=17), st.sampled_from(["/used/", "-", "/vin/", "?vin="]))
def test_a_vin_in_a_url_is_found_whatever_its_case(vin: str, before: str) -> None:
    vin = vin[:8] + check_digit(vin) + vin[9:12] + "12345"
    url = f"https://dealer.example{before}2021-honda-accord-{vin.lower()}/"
    assert vin_in(url) == vin


@pytest.mark.parametrize(
    "text",
    ["https://d.example/inventory/certified-pre-owned/", "https://d.example/abcdefghjklmnprst/", None, 17],
)
def test_no_vin_in_other_urls(text: object) -> None:
    assert vin_in(text) is None


def _page(*blocks: object, body: str = "") -> str:
    scripts = "".join(
        f'<script type="application/ld+json">{b if isinstance(b, str) else json.dumps(b)}</script>' for b in blocks
    )
    return f"<html><head>{scripts}</head><body>{body}</body></html>"


CAR = {
    "@type": "Car",
    "vehicleIdentificationNumber": "1HGCV1F50MA015459",
    "brand": {"@type": "Brand", "name": "Honda"},
    "model": "Accord",
    "mileageFromOdometer": {"@type": "QuantitativeValue", "value": "16093", "unitCode": "KMT"},
    "offers": {"@type": "Offer", "price": 23995, "priceCurrency": "USD"},
}


@pytest.mark.parametrize(
    "page",
    [
        _page({"@context": "https://schema.org", **CAR}),
        _page('{"broken": ', {"@graph": [{"@type": "WebSite"}, CAR]}),
        _page({"@type": "ItemList", "itemListElement": [{"@type": "ListItem", "item": CAR}]}),
        _page({"@type": "Offer", "price": 23995, "itemOffered": {k: v for k, v in CAR.items() if k != "offers"}}),
        _page({**CAR, "@type": ["Product", "Car"]}),
        _page({**CAR, "@type": "https://schema.org/Vehicle"}),
    ],
    ids=["plain", "graph+invalid", "itemlist", "offer", "product-car", "vehicle-url-type"],
)
def test_every_json_ld_shape_gives_the_same_vehicle(page: str) -> None:
    found = extract(page, "https://dealer.example/inventory/accord/")
    ((raw, unit),) = found.vehicles
    assert raw["vin"] == "1HGCV1F50MA015459" and raw["make"] == "Honda" and raw["model"] == "Accord"
    assert (raw["mileage"], unit) == ("16093", "km")
    assert raw["price"] == 23995
    assert raw["dealer_url"] == "https://dealer.example/inventory/accord/"
    assert found.invalid_blocks == ('"broken"' in page)


def test_microdata_is_the_fallback_and_json_ld_wins_where_both_speak() -> None:
    microdata = (
        '<div itemscope itemtype="https://schema.org/Car">'
        '<meta itemprop="vehicleIdentificationNumber" content="1HGCV1F50MA015459">'
        '<span itemprop="model">Accord Sedan</span><span itemprop="color">Radiant Red</span>'
        '<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        '<span itemprop="price" content="23995">$23,995</span></div></div>'
    )
    ((only, _),) = extract(_page(body=microdata), "https://d.example/x").vehicles
    assert (only["vin"], only["model"], only["price"], only["exterior_color"]) == (
        "1HGCV1F50MA015459",
        "Accord Sedan",
        "23995",
        "Radiant Red",
    )
    ((both, _),) = extract(_page(CAR, body=microdata), "https://d.example/x").vehicles
    assert both["model"] == "Accord" and both["price"] == 23995  # typed JSON-LD values
    assert both["exterior_color"] == "Radiant Red"  # a gap filled from the microdata


def test_listing_item_urls_are_links() -> None:
    items = {
        "@type": "ItemList",
        "itemListElement": [{"@type": "ListItem", "position": i, "url": f"/inventory/{i}/"} for i in (1, 2)],
    }
    assert extract(_page(items), "https://d.example/inventory/").links == ["/inventory/1/", "/inventory/2/"]


def test_sitemaps_plain_index_and_gzipped() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> https://d.example/a </loc></url><url><loc>https://d.example/b</loc></url></urlset>"
    )
    index = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://d.example/s1.xml</loc></sitemap></sitemapindex>'
    assert sitemap_locations(urlset, "d") == (False, ["https://d.example/a", "https://d.example/b"])
    assert sitemap_locations(gzip.compress(urlset), "d") == (False, ["https://d.example/a", "https://d.example/b"])
    assert sitemap_locations(index, "d") == (True, ["https://d.example/s1.xml"])
    with pytest.raises(TransientSourceError, match="garbled sitemap"):
        sitemap_locations(b"<html>not a sitemap", "d")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= (retry_after_seconds(later) or 0) <= 90


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, TransientSourceError), (500, TransientSourceError), (503, TransientSourceError),
     (401, PermanentSourceError), (403, PermanentSourceError), (404, PermanentSourceError)],
)  # fmt: skip
def test_status_classification(status: int, kind: type[Exception]) -> None:
    error = status_error("h", status, "GET /x", 30.0)
    assert type(error) is kind and f"HTTP {status}" in error.reason
