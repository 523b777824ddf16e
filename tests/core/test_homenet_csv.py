"""HomeNet standard CSV export: columns by name, BOM, delimiters, the price fall-through.

No real HomeNet CSV is public (../shared/realdata/README.md says so); these fixtures are
written here after the documented "HomeNet standard" column set.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from od.events import VehicleObserved, decode_event, encode_event
from od.normalize import Rejection, observation_from_raw, parse_homenet_csv
from od.normalize.homenet_csv import delimiter

COLUMNS = [
    "DealerId", "Type", "Stock", "VIN", "Year", "Make", "Model", "Body", "Trim", "Doors", "ExteriorColor",
    "InteriorColor", "EngineCylinders", "EngineDisplacement", "Transmission", "Miles", "SellingPrice", "MSRP",
    "BookValue", "Invoice", "Certified", "DateInStock", "Description", "Options", "Categorized Options",
    "Dealer Name", "Dealer Address", "Dealer City", "Dealer State", "Dealer Zip", "Dealer Phone",
    "Internet_Price", "ImageList", "Drivetrain", "Fuel_Type", "VehicleDetailUrl",
]  # fmt: skip

ROWS = [
    {"DealerId": "4711", "Type": "Used", "Stock": "P1234", "VIN": "1HGCV1F50MA015459", "Year": "2021",
     "Make": "HONDA", "Model": "ACCORD SEDAN", "Body": "4dr Car", "Trim": "EX-L", "Doors": "4",
     "ExteriorColor": "Radiant Red Metallic", "InteriorColor": "Ivory", "EngineCylinders": "4",
     "EngineDisplacement": "1.5", "Transmission": "Continuously Variable", "Miles": "21,918",
     "SellingPrice": "$23,995", "MSRP": "0", "BookValue": "22500", "Invoice": "21000", "Certified": "True",
     "DateInStock": "08/24/2025", "Description": "Clean CARFAX, one owner &amp; more.\nCall now!",
     "Options": "Sunroof,Heated Seats,Bluetooth", "Categorized Options": "Comfort:Heated Seats",
     "Dealer Name": "RSM Honda", "Dealer Address": "29961 Santa Margarita Pkwy, Suite 1", "Dealer City":
     "Rancho Santa Margarita", "Dealer State": "CA", "Dealer Zip": "92688", "Dealer Phone": "9495551212",
     "Internet_Price": "0", "ImageList": "https://img.test/a.jpg,https://img.test/b.jpg,https://img.test/a.jpg",
     "Drivetrain": "FWD", "Fuel_Type": "Gasoline Fuel", "VehicleDetailUrl": "https://www.rsm.test/used/1.htm"},
    {"DealerId": "4711", "Type": "New", "Stock": "N5678", "VIN": "2HKRS4H74SH471021", "Year": "2025",
     "Make": "Honda", "Model": "CR-V", "Body": "Sport Utility", "Trim": "EX-L", "Miles": "6",
     "SellingPrice": "", "MSRP": "38350", "Internet_Price": "37,088", "Certified": "False",
     "DateInStock": "0001-01-01", "ImageList": "https://img.test/c.jpg|https://img.test/d.jpg",
     "Drivetrain": "All Wheel Drive", "Fuel_Type": "Gasoline"},
    {"DealerId": "4711", "Type": "New", "Stock": "N9999", "VIN": "", "Year": "2026", "Make": "Honda",
     "Model": "Pilot", "MSRP": "$52,000", "SellingPrice": "0", "Internet_Price": ""},
    {"DealerId": "4711", "Type": "Used", "Stock": "", "VIN": "", "Year": "2019", "Make": "Honda",
     "Model": "Civic"},
]  # fmt: skip


def export(delimiter: str = ",", bom: bool = True, columns: list[str] = COLUMNS, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=delimiter, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in ROWS:
        writer.writerow(row)
    out.write("\r\n")  # a trailing blank line, as exports often have
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def observe(raw: dict[str, object]) -> VehicleObserved | Rejection:
    return observation_from_raw(
        raw, dealer_id="rsm-honda", source="homenet", occurred_at=datetime(2025, 10, 1, tzinfo=UTC), run_id="csv-1"
    )


@pytest.mark.parametrize("sep", [",", "\t", "|"])
def test_delimiters_and_bom(sep: str) -> None:
    rows = list(parse_homenet_csv(export(sep)))
    assert len(rows) == 4
    assert rows[0]["vin"] == "1HGCV1F50MA015459" and rows[0]["stock_number"] == "P1234"


def test_columns_are_matched_by_name_not_position() -> None:
    expected = list(parse_homenet_csv(export()))
    assert list(parse_homenet_csv(export(columns=list(reversed(COLUMNS))))) == expected
    header, rest = export().split(b"\r\n", 1)
    assert list(parse_homenet_csv(header.lower() + b"\r\n" + rest)) == expected
    renamed = header.replace(b"Internet_Price", b"Internet Price").replace(b"DateInStock", b"date_in_stock")
    assert list(parse_homenet_csv(renamed + b"\r\n" + rest)) == expected


def test_price_falls_through_internet_selling_msrp() -> None:
    used, new, pilot, _ = parse_homenet_csv(export())
    assert used["price"] == "$23,995"  # Internet_Price "0" -> SellingPrice
    assert used["other_prices"] == {"selling_price": "$23,995", "book_value": "22500"}  # no invoice (dealer cost)
    assert new["price"] == "37,088"  # Internet_Price wins when given
    assert pilot["price"] == "$52,000"  # both 0/empty -> MSRP


def test_rows_normalize_to_events() -> None:
    used, new, pilot, anonymous = (observe(raw) for raw in parse_homenet_csv(export("\t")))
    for event in (used, new, pilot):
        assert isinstance(event, VehicleObserved)
        assert decode_event(encode_event(event)) == event
    assert isinstance(used, VehicleObserved) and isinstance(new, VehicleObserved) and isinstance(pilot, VehicleObserved)
    assert (used.price, used.msrp, used.condition, used.mileage) == ("23995.00", None, "certified", 21918)
    assert (used.make, used.model, used.body_style, used.transmission) == ("Honda", "Accord Sedan", "Sedan", "CVT")
    assert used.engine == "1.5L 4 Cyl" and used.drivetrain == "FWD" and used.fuel_type == "Gasoline"
    assert used.images == ["https://img.test/a.jpg", "https://img.test/b.jpg"]
    assert used.options == ["Sunroof", "Heated Seats", "Bluetooth"]
    assert used.description == "Clean CARFAX, one owner & more.\nCall now!"
    assert used.dealer_url == "https://www.rsm.test/used/1.htm"
    assert used.date_in_stock is not None and used.date_in_stock.isoformat() == "2025-08-24"
    assert (new.price, new.msrp, new.condition, new.date_in_stock) == ("37088.00", "38350.00", "new", None)
    assert (new.body_style, new.drivetrain, new.images) == (
        "SUV",
        "AWD",
        ["https://img.test/c.jpg", "https://img.test/d.jpg"],
    )
    assert (pilot.vin, pilot.key, pilot.price) == (None, "stock:N9999", "52000.00")
    assert isinstance(anonymous, Rejection) and anonymous.field == "vin"


def test_source_dealer_id_is_kept_for_multi_rooftop_files() -> None:
    assert {row["source_dealer_id"] for row in parse_homenet_csv(export())} == {"4711"}


def test_windows_1252_and_str_input() -> None:
    ROWS.append({"Stock": "W1", "Make": "Citroën", "Model": "C4"})
    try:
        rows = list(parse_homenet_csv(export(bom=False, encoding="cp1252")))
        assert rows[-1]["make"] == "Citroën"
        assert list(parse_homenet_csv(export().decode("utf-8"))) == list(parse_homenet_csv(export()))
    finally:
        ROWS.pop()


def test_quoted_newlines_short_rows_and_empty_input() -> None:
    data = 'Stock,VIN,Description\n"S1",,"two\nlines, with comma"\nS2\n\n'
    rows = list(parse_homenet_csv(data))
    assert rows == [{"stock_number": "S1", "vin": "", "description": "two\nlines, with comma"}, {"stock_number": "S2"}]
    assert list(parse_homenet_csv(b"")) == []
    assert list(parse_homenet_csv("\ufeff")) == []


def test_delimiter_detection() -> None:
    assert delimiter("Type,Stock,VIN") == ","
    assert delimiter("Type\tStock\tVIN") == "\t"
    assert delimiter("Type|Stock|VIN|Dealer Name") == "|"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes | str) -> None:
    for raw in parse_homenet_csv(data):
        result = observe(raw)
        if isinstance(result, VehicleObserved):
            assert decode_event(encode_event(result)) == result
