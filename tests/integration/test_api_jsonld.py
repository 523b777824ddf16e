"""The vehicle JSON-LD against the schema.org 30.0 vocabulary, offline: expanded with the
bundled context (pyld), then every type, property and enumeration value checked in the
vocabulary (rdflib), each property allowed on its node's type (``domainIncludes``, walking
``rdfs:subClassOf``) and each nested node of a type its property accepts (``rangeIncludes``)."""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import quote

import asyncpg
import extruct
import pytest
from pyld import jsonld
from rdflib import RDF, RDFS, Graph, Namespace, URIRef

from tests.conftest import shared_path
from tests.integration.api_fixtures import Api, add_dealer, add_vehicle, api, vin

__all__ = ["api"]

SDO = Namespace("http://schema.org/")


@functools.cache
def vocabulary() -> Graph:
    graph = Graph()
    graph.parse(str(shared_path("standards/schemaorg-30.0-current-http.ttl")), format="turtle")
    return graph


@functools.cache
def context() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(shared_path("standards/schemaorg-30.0-context.jsonld").read_text())
    return loaded


def offline_loader(url: str, options: Any = None) -> dict[str, Any]:
    if url.rstrip("/").split("://", 1)[-1] in ("schema.org", "schema.org/docs/jsonldcontext.jsonld"):
        return {"contextUrl": None, "documentUrl": url, "document": context()}
    raise AssertionError(f"JSON-LD processing tried the network: {url}")


def ancestors(graph: Graph, cls: URIRef) -> set[URIRef]:
    return set(graph.transitive_objects(cls, RDFS.subClassOf))


def check_node(graph: Graph, node: dict[str, Any], path: str = "$") -> list[str]:
    """Problems with one expanded node and, recursively, the nodes inside it."""
    problems: list[str] = []
    types = [URIRef(t) for t in node.get("@type", [])]
    lineage: set[URIRef] = set()
    for t in types:
        if (t, RDF.type, RDFS.Class) not in graph:
            problems.append(f"{path}: unknown type {t}")
        lineage |= ancestors(graph, t)
    for key, values in node.items():
        if key.startswith("@"):
            continue
        prop = URIRef(key)
        if (prop, RDF.type, RDF.Property) not in graph:
            problems.append(f"{path}: unknown property {key}")
            continue
        domains = set(graph.objects(prop, SDO.domainIncludes))
        if types and not domains & lineage:
            problems.append(f"{path}: {key} is not allowed on {[str(t) for t in types]}")
        ranges = set(graph.objects(prop, SDO.rangeIncludes))
        for n, value in enumerate(values):
            where = f"{path}.{key.rsplit('/', 1)[-1]}[{n}]"
            if "@value" in value and str(value["@value"]).startswith(("https://schema.org/", "http://schema.org/")):
                member = URIRef("http://schema.org/" + str(value["@value"]).split("schema.org/", 1)[1])
                member_types = set(graph.objects(member, RDF.type))
                if not any(ranges & ancestors(graph, mt) for mt in member_types):
                    problems.append(f"{where}: {value['@value']} is not a value of {sorted(map(str, ranges))}")
            elif "@value" not in value and "@type" in value:
                value_lineage = set().union(*(ancestors(graph, URIRef(t)) for t in value["@type"]))
                if not ranges & value_lineage:
                    problems.append(f"{where}: a {value['@type']} is not in the range of {key}")
                problems += check_node(graph, value, where)
    return problems


def validate(document: dict[str, Any]) -> None:
    expanded = jsonld.expand(document, {"documentLoader": offline_loader})
    assert expanded, "nothing expanded: wrong @context?"
    graph = vocabulary()
    problems = [p for node in expanded for p in check_node(graph, node)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_mistakes() -> None:
    """A misspelt property, a property on the wrong type and an unknown type all fail."""
    for bad in (
        {"@context": "https://schema.org", "@type": "Car", "vehicleIdentificationNumbr": "X"},
        {"@context": "https://schema.org", "@type": "Car", "priceCurrency": "USD"},
        {"@context": "https://schema.org", "@type": "Carr", "name": "X"},
        {"@context": "https://schema.org", "@type": "Car", "offers": {"@type": "Brand", "name": "x"}},
        {"@context": "https://schema.org", "@type": "Offer", "availability": "https://schema.org/NewCondition"},
    ):
        with pytest.raises(AssertionError):
            validate(bad)


@pytest.fixture
async def car(db: asyncpg.Pool) -> str:
    await add_dealer(db, "alpha", lat=39.95, lng=-75.16, same_as=["https://www.facebook.com/alpha"])
    return await add_vehicle(
        db,
        "alpha",
        vin(7),
        body_style="Sedan",
        drivetrain="FWD",
        transmission="CVT",
        engine="2.0L I4",
        fuel_type="Gasoline",
        exterior_color="Lunar Silver",
        interior_color="Black",
        description="</script><script>alert(1)</script> & more",
        stock_number="S123",
    )


async def test_vehicle_json_ld_meets_the_vocabulary_and_google_fields(api: Api, car: str) -> None:
    async with api.get(f"/v1/vehicles/{car}", headers={"Accept": "application/ld+json"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/ld+json" and resp.headers["Vary"] == "Accept"
        doc = json.loads(await resp.read())
    validate(doc)
    url = f"https://cars.example.test/vehicles/{car}"
    assert doc["@context"] == "https://schema.org" and doc["@type"] == "Car"
    assert doc["url"] == doc["@id"] == url
    assert doc["name"] == "2021 Honda Civic EX"
    assert doc["vehicleIdentificationNumber"] == vin(7)
    assert doc["brand"] == {"@type": "Brand", "name": "Honda"}
    assert doc["model"] == "Civic" and doc["vehicleConfiguration"] == "EX"
    assert doc["vehicleModelDate"] == "2021"
    assert doc["mileageFromOdometer"] == {"@type": "QuantitativeValue", "value": 12000, "unitCode": "SMI"}
    assert doc["itemCondition"] == "https://schema.org/UsedCondition"
    assert all(image.startswith("https://") for image in doc["image"])
    offer = doc["offers"]
    assert offer["@type"] == "Offer" and offer["price"] == 23995 and offer["priceCurrency"] == "USD"
    assert offer["availability"] == "https://schema.org/InStock"
    dealer = offer["offeredBy"]
    assert dealer["@type"] == "AutoDealer"
    assert dealer["address"]["@type"] == "PostalAddress" and dealer["address"]["addressLocality"] == "Springfield"
    assert dealer["geo"] == {"@type": "GeoCoordinates", "latitude": 39.95, "longitude": -75.16}


async def test_sold_and_priceless_vehicles(api: Api, db: asyncpg.Pool, car: str) -> None:
    sold = await add_vehicle(db, "alpha", vin(8), status="sold", price=None, condition="new", mileage=None)
    async with api.get(f"/v1/vehicles/{sold}", headers={"Accept": "application/ld+json;q=0.9, */*;q=0.1"}) as resp:
        doc = json.loads(await resp.read())
    validate(doc)
    assert "price" not in doc["offers"]  # no price is no price key, never 0
    assert doc["offers"]["availability"] == "https://schema.org/SoldOut"
    assert doc["itemCondition"] == "https://schema.org/NewCondition"
    async with api.get(f"/v1/vehicles/{sold}", headers={"Accept": "application/json, application/ld+json;q=0.5"}) as r:
        assert r.content_type == "application/json"


async def test_html_page_embeds_the_json_ld_safely(api: Api, car: str) -> None:
    async with api.get(f"/vehicles/{quote(car, safe=':')}") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
    assert "</script><script>alert" not in html
    blocks = extruct.extract(html, syntaxes=["json-ld"], uniform=False)["json-ld"]
    assert len(blocks) == 1
    validate(blocks[0])
    assert blocks[0]["description"] == "</script><script>alert(1)</script> & more"
    async with api.get("/dealers/alpha") as resp:
        blocks = extruct.extract(await resp.text(), syntaxes=["json-ld"], uniform=False)["json-ld"]
    validate(blocks[0])
    assert blocks[0]["@type"] == "AutoDealer"
