"""Dealer files: validated against DealerChanged, errors name the field and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from od.events import DealerChanged
from od.events.dealer_file import DealerFileError, parse_dealer

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "dealers").glob("*.yaml"))

VALID = """\
dealer_id: d1
name: Dealer One
address:
  street: 1 Main St
  city: Springfield
platforms: [homenet, scrape]
homenet:
  rooftop_id: "123"
scrape:
  inventory_url: https://d1.example/inventory
location: {lat: 40.1, lng: -89.2}
"""


def test_example_dealers_are_valid_and_cover_the_demo() -> None:
    dealers = [parse_dealer(p.read_bytes(), source=p.name) for p in EXAMPLES]
    assert len(dealers) >= 3
    assert len({d.address.city for d in dealers if d.address}) == len(dealers)
    assert sum(d.location is not None for d in dealers) >= 2
    assert any(d.location is None and d.address and d.address.street for d in dealers), "one to geocode"
    assert {frozenset(d.platforms) for d in dealers} >= {
        frozenset({"homenet", "dealer_com", "scrape"}),
        frozenset({"dealer_com"}),
        frozenset({"scrape", "homenet"}),
    }
    assert {p.stem for p in EXAMPLES} == {d.dealer_id for d in dealers}, "file named after its dealer"
    assert {d.price_preference for d in dealers} == {"scrape", "homenet"}


def test_valid_file_becomes_an_upsert() -> None:
    event = parse_dealer(VALID, source="d1.yaml")
    assert isinstance(event, DealerChanged)
    assert event.operation == "upsert"
    assert event.homenet is not None and event.homenet.rooftop_id == "123"
    assert event.location is not None and event.location.lat == 40.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VALID.replace("city: Springfield", "city: 5"), "d.yaml:5: `address.city`: Expected `str | null`, got `int`"),
        (VALID.replace('rooftop_id: "123"', "rooftop_id: 123"), "d.yaml:8: `homenet.rooftop_id`: Expected `str`"),
        (VALID.replace("scrape]", "Scrape]"), "d.yaml:6: `platforms[1]`: Expected `str` matching"),
        (VALID.replace("lat: 40.1", "lat: 140.1"), "d.yaml:11: `location.lat`: Expected `float` <= 90.0"),
        (VALID.replace("address:", "adress:"), "d.yaml:3: `adress`: unknown field, did you mean `address`?"),
        (VALID.replace("  city:", "  town:"), "d.yaml:5: `address.town`: unknown field"),
        (VALID.replace("name: Dealer One\n", ""), "d.yaml:1: `name` is required for operation `upsert`"),
        (VALID.replace("dealer_id: d1", "dealer_id: D 1"), "d.yaml:1: `dealer_id`: Expected `str` matching"),
        (VALID.replace('homenet:\n  rooftop_id: "123"\n', ""), "d.yaml:6: `platforms[0]`: platform `homenet` needs"),
        (VALID + "operation: delete\n", "d.yaml:12: `operation`: only `upsert` here"),
        (VALID.replace("[homenet, scrape]", "[homenet, scrape"), "d.yaml:7: "),
        ("", "d.yaml: the file is empty"),
        ("- a\n- b\n", "d.yaml:1: a dealer file holds one mapping"),
    ],
)
def test_errors_name_field_and_line(text: str, expected: str) -> None:
    with pytest.raises(DealerFileError) as err:
        parse_dealer(text, source="d.yaml")
    assert str(err.value).startswith(expected), str(err.value)
    assert "\n" not in str(err.value)


def test_every_unknown_field_is_listed_with_its_line() -> None:
    with pytest.raises(DealerFileError, match=r"also unknown: `scrape.inventory`"):
        parse_dealer(VALID.replace("address:", "adress:").replace("inventory_url", "inventory"), source="d.yaml")


def test_json_files_get_lines_too() -> None:
    data = yaml.safe_load(VALID)
    data["location"]["lng"] = "west"
    text = json.dumps(data, indent=2)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"lng"' in t)
    with pytest.raises(DealerFileError) as err:
        parse_dealer(text, source="d.json", fmt="json")
    assert err.value.line == line and err.value.pointer == "/location/lng"
    with pytest.raises(DealerFileError, match=r"^d.json:3: JSON is malformed"):
        parse_dealer('{"dealer_id": "d1",\n "name": "x",\n "platforms": [}', source="d.json", fmt="json")


LEAVES = [("address", "city"), ("address", "postal_code"), ("homenet", "rooftop_id"), ("location", "lat"), ("phone",)]


@settings(max_examples=40)
@given(
    order=st.permutations(["dealer_id", "name", "address", "platforms", "homenet", "scrape", "location", "phone"]),
    leaf=st.sampled_from(LEAVES),
    bad=st.sampled_from([[1, 2], {"x": 1}, True]),
)
def test_the_line_is_where_the_bad_value_is_whatever_the_layout(
    order: list[str], leaf: tuple[str, ...], bad: object
) -> None:
    data = yaml.safe_load(VALID) | {"phone": "+1 555-0100"}
    parent = data
    for step in leaf[:-1]:
        parent = parent[step]
    parent[leaf[-1]] = bad
    text = yaml.safe_dump({k: data[k] for k in order}, sort_keys=False, default_flow_style=False)
    with pytest.raises(DealerFileError) as err:
        parse_dealer(text, source="d.yaml")
    assert err.value.field == ".".join(leaf)
    # The value starts on the key's line (inline) or the next one (block style).
    lines = text.splitlines()
    indent = "  " * (len(leaf) - 1)
    start = next(i for i, t in enumerate(lines, 1) if t.startswith(f"{indent}{leaf[-1]}:") and _under(lines, i, leaf))
    assert err.value.line in (start, start + 1)


def _under(lines: list[str], line: int, leaf: tuple[str, ...]) -> bool:
    """Whether ``line`` (1-based) lies in the block of ``leaf``'s parent key."""
    if len(leaf) == 1:
        return True
    parent = next(t for t in reversed(lines[: line - 1]) if not t.startswith(" "))
    return parent.startswith(f"{leaf[0]}:")
