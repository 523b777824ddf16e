"""Value normalizers: money, mileage, dates, flags, text, links, canonical tables."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from od.normalize import (
    boolean,
    canonical_body_style,
    canonical_drivetrain,
    canonical_fuel_type,
    canonical_make,
    canonical_model,
    canonical_transmission,
    clean_text,
    condition,
    image_list,
    mileage,
    money,
    parse_date,
    proper_case,
    url,
)
from tests.conftest import shared_path

MONEY = re.compile(r"^[0-9]{1,10}\.[0-9]{2}$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$23,995", "23995.00"),
        ("23995", "23995.00"),
        ("10499 USD", "10499.00"),
        ("USD 10,499.99", "10499.99"),
        (23995, "23995.00"),
        (23995.5, "23995.50"),
        ("$37,088", "37088.00"),
        (" 1,234.567 ", "1234.57"),
        ("CAD 18770", "18770.00"),
    ],
)
def test_money_parses(raw: object, expected: str) -> None:
    assert money(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [0, 0.0, "0", "", "$0.00", None, -5, "-5", "$-5", float("nan"), float("inf"), 10_000_001, "1410065407",
     "Call for price", True, [], {}, 0.004],
)  # fmt: skip
def test_money_absent_means_call_for_price(raw: object) -> None:
    assert money(raw) is None


@given(st.integers(min_value=1, max_value=10_000_000), st.sampled_from(["{:,}", "${:,}", "{} USD", "{}", "$ {:,}.00"]))
def test_money_parses_any_formatted_integer(amount: int, template: str) -> None:
    assert money(template.format(amount)) == f"{amount}.00"


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000_000), places=2))
def test_money_matches_decimal_arithmetic(amount: Decimal) -> None:
    assert money(str(amount)) == f"{amount:.2f}"
    assert money(f"${amount:,}") == f"{amount:.2f}"


@given(st.one_of(st.text(), st.integers(), st.floats(), st.decimals(), st.none()))
def test_money_never_zero_and_idempotent(raw: object) -> None:
    result = money(raw)
    if result is not None:
        assert result != "0.00"
        assert MONEY.match(result)
        assert money(result) == result


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        ("99,247 miles", "mi", 99247),
        ("6", "mi", 6),
        (6, "mi", 6),
        (75011.0, "mi", 75011),
        ("12,000 km", "mi", 7456),
        ("55,621 KM", "mi", 34561),
        (77000, "km", 47846),
        ("abc", "mi", None),
        (None, "mi", None),
        (-3, "mi", None),
        ("", "mi", None),
    ],
)
def test_mileage(raw: object, unit: str, expected: int | None) -> None:
    assert mileage(raw, unit) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("08/24/2025", date(2025, 8, 24)),
        ("8/4/2025", date(2025, 8, 4)),
        ("03/19/26", date(2026, 3, 19)),
        ("2025-08-24", date(2025, 8, 24)),
        ("2025-08-24T10:11:12Z", date(2025, 8, 24)),
        ("2025-08-24 10:11:12", date(2025, 8, 24)),
        (datetime(2025, 8, 24, 1, 2), date(2025, 8, 24)),
        ("0001-01-01", None),
        ("0001-01-01T00:00:00", None),
        ("00/24/2025", None),
        ("08/00/2025", None),
        ("13/01/2025", None),
        ("02/30/2025", None),
        ("null", None),
        ("", None),
        (None, None),
        (20250824, None),
    ],
)
def test_parse_date(raw: object, expected: date | None) -> None:
    assert parse_date(raw) == expected


@given(st.text())
def test_parse_date_never_raises(raw: str) -> None:
    result = parse_date(raw)
    assert result is None or result.year >= 1900


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("True", True), ("False", False), ("Yes", True), ("no", False), ("y", True), ("N", False), ("1", True),
     ("0", False), (1, True), (0, False), (True, True), ("", None), ("maybe", None), (None, None), (2, None)],
)  # fmt: skip
def test_boolean(raw: object, expected: bool | None) -> None:
    assert boolean(raw) is expected


@pytest.mark.parametrize(
    ("raw", "certified", "expected"),
    [
        ("New", None, "new"),
        ("Used", None, "used"),
        ("Certified", None, "certified"),
        ("N", None, "new"),
        ("u", None, "used"),
        ("CPO", None, "certified"),
        ("NewCondition", None, "new"),
        ("https://schema.org/UsedCondition", None, "used"),
        ("http://schema.org/NewCondition", None, "new"),
        ("Pre-Owned", None, "used"),
        ("Certified Pre-Owned", None, "certified"),
        ("Used", "True", "certified"),
        ("Used", "False", "used"),
        ("New", "True", "new"),
        (None, "yes", "certified"),
        ("like new", None, "used"),
        ("10 days left", None, None),
        (None, None, None),
    ],
)
def test_condition(raw: object, certified: object, expected: str | None) -> None:
    assert condition(raw, certified) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("see buy &amp; lease options", "see buy & lease options"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),
        ("  lots   of\n\tspace ", "lots of space"),
        ("<p>Clean <b>CARFAX</b></p>", "Clean CARFAX"),
        ("Price < 5000 and > 3000", "Price < 5000 and > 3000"),
        ("a\ufeffb\u200b", "ab"),
        ("", None),
        ("   ", None),
        (None, None),
        (2021, "2021"),
    ],
)
def test_clean_text(raw: object, expected: str | None) -> None:
    assert clean_text(raw) == expected


def test_clean_text_multiline_keeps_paragraphs_and_truncates() -> None:
    text = "Line one.\r\n\r\n\r\n\r\nLine   two<br>three"
    assert clean_text(text, multiline=True) == "Line one.\n\nLine two\nthree"
    long = clean_text("word " * 100, limit=50)
    assert long is not None and len(long) <= 50 and long.endswith("…")


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_clean_text_never_raises_and_respects_limit(raw: str, limit: int) -> None:
    result = clean_text(raw, limit=limit)
    assert result is None or (0 < len(result) <= limit and result == result.strip())


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("https://a.test/1.jpg", None, "https://a.test/1.jpg"),
        ("HTTPS://a.test/1.jpg", None, "https://a.test/1.jpg"),
        ("/new/Honda/x.htm", "https://www.rsmhondaonline.com/", "https://www.rsmhondaonline.com/new/Honda/x.htm"),
        ("//cdn.test/a.jpg", None, "https://cdn.test/a.jpg"),
        ("www.rsmhondaonline.com", None, "https://www.rsmhondaonline.com"),
        ("https://a.test/a b.jpg", None, "https://a.test/a%20b.jpg"),
        ("javascript:alert(1)", None, None),
        ("ftp://a.test/x", None, None),
        ("x.jpg", None, None),
        ("", None, None),
    ],
)
def test_url(raw: str, base: str | None, expected: str | None) -> None:
    assert url(raw, base) == expected


def test_image_list_splits_absolutizes_dedups() -> None:
    raw = "https://a.test/1.jpg,https://a.test/2.jpg| /3.jpg ; https://a.test/1.jpg,//a.test/4.jpg data:x"
    assert image_list(raw, "https://a.test/inventory/") == [
        "https://a.test/1.jpg",
        "https://a.test/2.jpg",
        "https://a.test/3.jpg",
        "https://a.test/4.jpg",
    ]
    assert image_list(["https://a.test/1.jpg", None, 3, "https://a.test/1.jpg"]) == ["https://a.test/1.jpg"]
    assert image_list("https://a.test/1.jpg, https://a.test/2.jpg") == ["https://a.test/1.jpg", "https://a.test/2.jpg"]
    assert image_list("") is None
    assert image_list(None) is None
    assert len(image_list([f"https://a.test/{i}.jpg" for i in range(400)]) or []) == 300


@given(st.lists(st.integers(min_value=0, max_value=20), max_size=40))
def test_image_list_dedup_keeps_first_order(indexes: list[int]) -> None:
    links = [f"https://img.test/{i}.jpg" for i in indexes]
    expected = list(dict.fromkeys(links)) or None
    assert image_list(links) == expected
    assert image_list("|".join(links)) == expected


@given(st.text())
def test_image_list_only_http_urls(raw: str) -> None:
    for link in image_list(raw, "https://base.test/") or []:
        assert link.startswith(("http://", "https://")) and len(link) <= 2048


@pytest.mark.parametrize(
    ("function", "raw", "expected"),
    [
        (canonical_make, "HONDA", "Honda"),
        (canonical_make, "honda", "Honda"),
        (canonical_make, "MERCEDES-BENZ", "Mercedes-Benz"),
        (canonical_make, "mercedes benz", "Mercedes-Benz"),
        (canonical_make, "GMC", "GMC"),
        (canonical_make, "chevy", "Chevrolet"),
        (canonical_make, "land", "Land Rover"),
        (canonical_make, "alfa-romeo", "Alfa Romeo"),
        (canonical_make, "SOMENEWMAKE", "Somenewmake"),
        (canonical_make, "N/A", None),
        (canonical_make, "", None),
        (canonical_model, "CR-V", "CR-V"),
        (canonical_model, "crv", "CR-V"),
        (canonical_model, "ACCORD SEDAN", "Accord Sedan"),
        (canonical_model, "f150", "F-150"),
        (canonical_model, "RAV4", "RAV4"),
        (canonical_model, "ProMaster City", "ProMaster City"),
        (canonical_model, 300, "300"),
        (canonical_body_style, "Crew Cab Pickup", "Pickup"),
        (canonical_body_style, "SuperCrew", "Pickup"),
        (canonical_body_style, "4dr Car", "Sedan"),
        (canonical_body_style, "Sport Utility", "SUV"),
        (canonical_body_style, "Sedan/Saloon", "Sedan"),
        (canonical_body_style, "Pickup Truck", "Pickup"),
        (canonical_body_style, "Mini-van, Passenger", "Minivan"),
        (canonical_body_style, "Cargo Van", "Van"),
        (canonical_body_style, "Hatchback/Liftback/Notchback", "Hatchback"),
        (canonical_body_style, "Other", None),
        (canonical_fuel_type, "Gasoline Fuel", "Gasoline"),
        (canonical_fuel_type, "gas", "Gasoline"),
        (canonical_fuel_type, "Plug-In Hybrid", "Plug-In Hybrid"),
        (canonical_fuel_type, "Gasoline/Mild Electric Hybrid", "Hybrid"),
        (canonical_fuel_type, "Compressed Natural Gas", "Natural Gas"),
        (canonical_fuel_type, "Flexible Fuel", "Flex Fuel"),
        (canonical_fuel_type, "Electric", "Electric"),
        (canonical_drivetrain, "All-Wheel Drive", "AWD"),
        (canonical_drivetrain, "4MATIC", "AWD"),
        (canonical_drivetrain, "4X4", "4WD"),
        (canonical_drivetrain, "Four Wheel Drive", "4WD"),
        (canonical_drivetrain, "fwd", "FWD"),
        (canonical_drivetrain, "Rear Wheel Drive", "RWD"),
        (canonical_transmission, "8-Speed Automatic", "Automatic"),
        (canonical_transmission, "Variable", "CVT"),
        (canonical_transmission, "6-Speed M/T", "Manual"),
        (canonical_transmission, "7-Speed Dual-Clutch", "Automatic"),
    ],
)
def test_canonical_tables(function: object, raw: object, expected: str | None) -> None:
    assert function(raw) == expected  # type: ignore[operator]


def test_proper_case_only_fixes_single_case_text() -> None:
    assert proper_case("ACCORD SEDAN EX-L") == "Accord Sedan EX-L"
    assert proper_case("civic lx") == "Civic LX"
    assert proper_case("rx350") == "RX350"
    assert proper_case("McLaren 720S") == "McLaren 720S"


@given(st.text(max_size=300))
def test_canonical_never_raises_and_fits_contract(raw: str) -> None:
    for function in (canonical_make, canonical_model, canonical_body_style, canonical_fuel_type):
        result = function(raw)
        assert result is None or 0 < len(result) <= 200


BODY_STYLES = {"Sedan", "Coupe", "Convertible", "Hatchback", "Wagon", "SUV", "Pickup", "Minivan", "Van",
               "Chassis Cab", "Truck Tractor", "Motorcycle", "Trailer"}  # fmt: skip


def test_vpic_vocabulary_maps_into_the_canonical_sets() -> None:
    """Every body class, drive type and fuel type vPIC used for 5,631 real VINs."""
    path = shared_path("realdata/vins/ultravin-decodes-of-collected-vins.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for value in {row["body_class"] for row in rows} - {""}:
        assert canonical_body_style(value) in BODY_STYLES, value
    assert canonical_body_style("Incomplete - Chassis Cab (Double Cab)") == "Chassis Cab"
    drives = {canonical_drivetrain(row["drive_type"]) for row in rows}
    assert drives <= {"AWD", "4WD", "FWD", "RWD", "2WD", "6x4", None}
    fuels = {canonical_fuel_type(row["fuel_type"]) for row in rows}
    assert fuels <= {"Gasoline", "Diesel", "Electric", "Flex Fuel", None}
    for make in {row["make"] for row in rows} - {""}:
        canonical = canonical_make(make)
        assert canonical and canonical.lower().replace("-", " ") == make.lower().replace("-", " "), make
