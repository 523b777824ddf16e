"""observation_from_raw: valid events from dirty records, rejections that name field and value."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from od.events import VehicleObserved, decode_event, encode_event
from od.normalize import Rejection, dealer_com_raw, homenet_raw, observation_from_raw
from tests.conftest import shared_path

NOW = datetime(2025, 10, 29, 12, 0, tzinfo=UTC)


def observe(raw: Mapping[str, object], **overrides: object) -> VehicleObserved | Rejection:
    arguments: dict[str, object] = {"dealer_id": "rsm-honda", "source": "homenet", "occurred_at": NOW,
                                    "run_id": "run-1", **overrides}  # fmt: skip
    return observation_from_raw(raw, **arguments)  # type: ignore[arg-type]


def valid(result: VehicleObserved | Rejection) -> VehicleObserved:
    """The result, after proving it is an event every consumer accepts."""
    assert isinstance(result, VehicleObserved), result
    decoded = decode_event(encode_event(result))
    assert decoded == result
    msgspec.convert(msgspec.to_builtins(result), VehicleObserved)  # the Struct's own constraints
    return result


def codes(event: VehicleObserved) -> set[tuple[str, str]]:
    return {(warning.field, warning.code) for warning in event.warnings}


def test_clean_record_keeps_every_field() -> None:
    event = valid(
        observe(
            {
                "vin": " 1hgcv1f50ma015459 ",
                "stock_number": " A123 ",
                "year": "2021",
                "make": "HONDA",
                "model": "ACCORD SEDAN",
                "trim": "EX-L",
                "body_style": "4dr Car",
                "drivetrain": "Front Wheel Drive",
                "transmission": "CVT",
                "engine": "1.5L I4 Turbo",
                "fuel_type": "Gasoline Fuel",
                "exterior_color": "RADIANT RED METALLIC",
                "interior_color": "ivory",
                "condition": "Used",
                "certified": "True",
                "mileage": "21,918",
                "price": "$23,995",
                "msrp": "0",
                "other_prices": {"internet_price": "23995", "book_value": "$0.00"},
                "images": "https://img.test/1.jpg|https://img.test/2.jpg|https://img.test/1.jpg",
                "options": "Sunroof,Heated Seats,Sunroof",
                "description": "Clean CARFAX &amp; one owner.<br><br>Call us!",
                "dealer_url": "/used/Honda/2021-accord.htm",
                "date_in_stock": "08/24/2025",
            },
            base_url="https://www.rsmhondaonline.com/",
        )
    )
    assert (event.vin, event.stock_number, event.year) == ("1HGCV1F50MA015459", "A123", 2021)
    assert (event.make, event.model, event.trim) == ("Honda", "Accord Sedan", "EX-L")
    assert (event.body_style, event.drivetrain, event.transmission, event.fuel_type) == (
        "Sedan",
        "FWD",
        "CVT",
        "Gasoline",
    )
    assert (event.exterior_color, event.interior_color) == ("Radiant Red Metallic", "Ivory")
    assert (event.condition, event.mileage, event.price, event.msrp) == ("certified", 21918, "23995.00", None)
    assert event.currency == "USD"
    assert event.other_prices == {"internet_price": "23995.00"}
    assert event.images == ["https://img.test/1.jpg", "https://img.test/2.jpg"]
    assert event.options == ["Sunroof", "Heated Seats"]
    assert event.description == "Clean CARFAX & one owner.\n\nCall us!"
    assert event.dealer_url == "https://www.rsmhondaonline.com/used/Honda/2021-accord.htm"
    assert event.date_in_stock is not None and event.date_in_stock.isoformat() == "2025-08-24"
    assert event.warnings == []
    assert (event.dealer_id, event.source, event.run_id, event.occurred_at) == ("rsm-honda", "homenet", "run-1", NOW)


def test_event_id_is_deterministic_per_run_and_vehicle() -> None:
    raw = {"vin": "1HGCV1F50MA015459"}
    first, again = valid(observe(raw)), valid(observe(dict(raw)))
    assert first.event_id == again.event_id
    assert valid(observe(raw, run_id="run-2")).event_id != first.event_id
    assert valid(observe({"vin": "2HKRS4H74SH471021"})).event_id != first.event_id
    assert valid(observe(raw, event_id="given")).event_id == "given"


def test_bad_vin_falls_back_to_stock_number_with_warning() -> None:
    event = valid(observe({"vin": "2T36CRAV0TW23I919", "stock_number": "T1234"}))
    assert event.vin is None and event.key == "stock:T1234"
    assert codes(event) == {("vin", "illegal_character")}


def test_odd_but_legal_vins_are_kept_with_warnings() -> None:
    exception = valid(observe({"vin": "KMTGA4SCDRU227656"}))
    assert exception.vin == "KMTGA4SCDRU227656" and codes(exception) == {("vin", "check_digit")}
    placeholder = valid(observe({"vin": "2T36CRAV4TW15E540", "stock_number": ""}))
    assert placeholder.vin == "2T36CRAV4TW15E540" and ("vin", "placeholder") in codes(placeholder)


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ({"vin": "", "stock_number": ""}, "vin", "cannot be identified"),
        ({"vin": None, "stock_number": "N/A"}, "vin", "cannot be identified"),
        ({"vin": "4T1B", "stock_number": None}, "vin", "wrong_length"),
        ({"vin": "AAAAAAA:AAAAAAAAA"}, "vin", "illegal_character"),
        ({"vin": "1HGCV1F50MA015459", "year": "1850"}, "year", "model year outside 1886..2027"),
        ({"vin": "1HGCV1F50MA015459", "year": 2028}, "year", "model year outside"),
    ],
)
def test_rejections_name_field_value_and_reason(raw: dict[str, object], field: str, reason: str) -> None:
    result = observe(raw)
    assert isinstance(result, Rejection)
    assert result.field == field
    assert reason in result.reason
    assert result.value == repr(raw.get(field))


def test_dirty_values_become_warnings_not_rejections() -> None:
    event = valid(
        observe(
            {
                "stock_number": "S1",
                "year": "twenty",
                "mileage": "10,000,000",
                "price": "-5",
                "msrp": "$1",
                "currency": "dollars",
                "date_in_stock": "someday",
                "images": ["not a url", "javascript:x"],
            }
        )
    )
    assert codes(event) == {
        ("year", "unparseable"),
        ("mileage", "implausible"),
        ("price", "implausible"),
        ("msrp", "implausible"),
        ("currency", "unparseable"),
        ("date_in_stock", "unparseable"),
    }
    assert event.year is event.mileage is event.price is event.msrp is event.currency is event.images is None


def test_sentinels_are_absent_without_warnings() -> None:
    event = valid(observe({"vin": "1HGCV1F50MA015459", "date_in_stock": "00/24/2025", "price": "0", "mileage": ""}))
    assert (event.date_in_stock, event.price, event.mileage, event.warnings) == (None, None, None, [])
    assert valid(observe({"vin": "1HGCV1F50MA015459", "date_in_stock": "0001-01-01T00:00:00"})).warnings == []


def test_long_values_are_truncated_to_contract_limits() -> None:
    event = valid(
        observe(
            {
                "vin": "1HGCV1F50MA015459",
                "model": "Sedan " * 100,
                "description": "word " * 10_000,
                "options": [f"option {i} " + "x" * 400 for i in range(800)],
                "images": [f"https://img.test/{i}.jpg" for i in range(500)],
                "other_prices": {"p" * 500: "100"},
            }
        )
    )
    assert event.model is not None and len(event.model) <= 200
    assert event.description is not None and len(event.description) <= 20_000
    assert event.options is not None and len(event.options) == 500 and all(len(o) <= 300 for o in event.options)
    assert event.images is not None and len(event.images) == 300
    assert all(len(name) <= 200 for name in event.other_prices)


def test_too_long_stock_number_is_dropped_not_truncated() -> None:
    result = observe({"stock_number": "S" * 65})
    assert isinstance(result, Rejection) and "too_long" in result.reason


def test_caller_mistakes_raise() -> None:
    with pytest.raises(ValueError, match="dealer_id"):
        observe({"vin": "1HGCV1F50MA015459"}, dealer_id="Not Valid")
    with pytest.raises(ValueError, match="timezone"):
        observe({"vin": "1HGCV1F50MA015459"}, occurred_at=datetime(2025, 1, 1))
    event = valid(observe({"vin": "1HGCV1F50MA015459"}, occurred_at=NOW.astimezone(timezone(timedelta(hours=-7)))))
    assert event.occurred_at == NOW and event.occurred_at.utcoffset() == timedelta(0)
    assert valid(observe({"vin": "1HGCV1F50MA015459", "year": 2027})).year == 2027  # next year's models + 1


_any_text = st.text(st.characters(exclude_categories=()), max_size=60)  # lone surrogates too
_values = st.one_of(
    st.none(), st.text(max_size=60), _any_text, st.integers(), st.floats(), st.booleans(),
    st.lists(st.text(max_size=30), max_size=5), st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)  # fmt: skip
_vin_like = st.one_of(_values, st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789IOQ ", min_size=15, max_size=19))
_fields = ["stock_number", "year", "make", "model", "trim", "body_style", "drivetrain", "transmission", "engine",
           "fuel_type", "exterior_color", "interior_color", "condition", "certified", "mileage", "price", "msrp",
           "other_prices", "currency", "images", "options", "description", "dealer_url", "date_in_stock"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(vin=_vin_like, values=st.fixed_dictionaries({}, optional={name: _values for name in _fields}))
def test_never_raises_and_never_emits_an_invalid_event(vin: object, values: dict[str, object]) -> None:
    result = observe({"vin": vin, **values}, base_url="https://dealer.test/inventory/")
    if isinstance(result, Rejection):
        assert result.field in ("vin", "year") and result.reason and len(result.value) <= 120
    else:
        valid(result)


# --- real samples -------------------------------------------------------------------------------


def test_homenet_soap_sample_normalizes() -> None:
    record = json.loads(shared_path("samples/homenet/homenet-soap-vehicle-rsm-honda.json").read_text())
    event = valid(observe(homenet_raw(record)))
    assert (event.vin, event.year, event.make, event.model, event.trim) == (
        "1HGCV1F50MA015459", 2021, "Honda", "Accord Sedan", "EX-L",
    )  # fmt: skip
    assert event.condition == "certified"  # certified "True" upgrades the used car
    assert (event.mileage, event.price, event.msrp, event.stock_number) == (21918, None, None, None)  # "0" and ""
    assert event.fuel_type == "Gasoline" and event.body_style is None and event.transmission is None
    assert event.images is not None and len(event.images) == 30
    assert event.description is not None and "\n\n\n" not in event.description
    assert event.warnings == []


@pytest.mark.parametrize("price_field", ["internet_price", "final_price"])
def test_dealer_com_sample_normalizes(price_field: str) -> None:
    document = json.loads(
        shared_path("samples/dealer-com/ws-inv-data-getInventory-rsm-honda-2025-08-25.json").read_text()
    )
    events = [
        valid(observe(dealer_com_raw(vehicle, price_field=price_field), source="dealer_com",  # type: ignore[arg-type]
                      base_url="https://www.rsmhondaonline.com/"))
        for vehicle in document["sampleVehicles"]
    ]  # fmt: skip
    first = events[0]
    assert (first.vin, first.stock_number, first.make, first.model, first.condition) == (
        "2HKRS4H74SH471021", "SH471021", "Honda", "CR-V", "new",
    )  # fmt: skip
    assert first.msrp == "38350.00"
    # "$37,088" advertised; the final price takes off the two $500 conditional offers.
    assert first.price == ("37088.00" if price_field == "internet_price" else "36088.00")
    assert first.other_prices["internet_price"] == "37088.00" and first.other_prices["final_price"] == "36088.00"
    assert "sale_price" not in first.other_prices  # "0"
    assert (first.mileage, first.date_in_stock) == (6, None)  # odometer "6"; inventoryDate "00/24/2025"
    assert (first.drivetrain, first.transmission, first.fuel_type, first.body_style) == (
        "AWD",
        "CVT",
        "Gasoline",
        "SUV",
    )
    assert first.dealer_url is not None and first.dealer_url.startswith("https://www.rsmhondaonline.com/new/Honda/")
    assert all(event.warnings == [] for event in events)
    assert len({event.vin for event in events}) == 5


CURVE_KEYS = {"VIN": "vin", "Stock Number": "stock_number", "Year": "year", "Make": "make", "Model": "model",
              "Body Style": "body_style", "Fuel Type": "fuel_type", "Exterior Color": "exterior_color",
              "Interior Color": "interior_color", "Transmission": "transmission", "Engine": "engine",
              "Drivetrain": "drivetrain", "Condition": "condition", "Odometer": "mileage", "Sale Price": "price",
              "All Image URLs": "images", "Description": "description", "Detail Page URL": "dealer_url"}  # fmt: skip


def test_curvemotors_dealer_inventory_cad_and_km() -> None:
    document = json.loads(shared_path("realdata/listings/curvemotors-inventory-2025-10-29.json").read_text())
    events = []
    for vehicle in document["vehicles"]:
        raw: dict[str, object] = {field: vehicle.get(key) for key, field in CURVE_KEYS.items()}
        raw["currency"] = "CAD"
        raw["other_prices"] = {"original_price": vehicle.get("Original Price")}
        events.append(valid(observe(raw, dealer_id="curve-motors", source="scrape", mileage_unit="km")))
    assert len(events) == 111
    flagged = {event.vin for event in events if ("vin", "check_digit") in codes(event)}
    assert flagged == {"WDCYC7DF6EX214714", "5YJ3E1EA6KF514852"}  # the README's Canadian/export cars
    assert all(event.currency == "CAD" for event in events if event.price)
    first = events[0]
    assert (first.vin, first.make, first.model, first.year) == ("ZFBERFDB0J6L10693", "Ram", "ProMaster City", 2018)
    assert first.mileage == round(77000 / 1.609344)
    assert first.price == "18770.00" and first.other_prices == {"original_price": "20770.00"}
    assert first.body_style == "Minivan" and first.drivetrain == "FWD"
    assert all(event.description is None or "\ufeff" not in event.description for event in events)
    assert all(event.images and len(event.images) == len(set(event.images)) for event in events)
    assert {event.fuel_type for event in events} <= {"Gasoline", "Diesel", "Hybrid", "Electric", "Plug-In Hybrid", None}
    assert Counter(event.body_style for event in events)["Pickup"] > 0


def test_usa_cars_dirty_listings() -> None:
    path = shared_path("realdata/listings/usa-cars-datasets.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    results = []
    for row in rows:
        raw = {"vin": row["vin"], "stock_number": row["lot"], "year": row["year"], "make": row["brand"],
               "model": row["model"], "mileage": row["mileage"], "price": row["price"],
               "exterior_color": row["color"], "condition": row["condition"]}  # fmt: skip
        results.append(observe(raw, dealer_id="auction", source="scrape"))
    rejections = [result for result in results if isinstance(result, Rejection)]
    assert rejections == []  # every row has a lot number to fall back on
    events = [valid(result) for result in results if isinstance(result, VehicleObserved)]
    assert len(events) == 2499
    assert sum(event.price is None for event in events) >= 43  # price 0 -> call for price
    assert all(event.vin is None or event.vin == event.vin.strip().upper() for event in events)
    camaro = [event for event in events if ("vin", "wrong_length") in codes(event)]
    assert len(camaro) == 1 and camaro[0].key.startswith("stock:")  # the 13-character 1973 VIN
    assert all(event.exterior_color not in ("No_color", "no_color", "Color:") for event in events)
    assert {event.make for event in events} >= {"Ford", "Land Rover", "Harley-Davidson", "Mercedes-Benz"}


def test_craigslist_dirty_listings() -> None:
    path = shared_path("realdata/listings/craigslist-vehicles-sample.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    warnings: Counter[tuple[str, str]] = Counter()
    for index, row in enumerate(rows):
        raw = {"year": row["year"], "make": row["manufacturer"], "model": row["model"],
               "condition": row["condition"], "fuel_type": row["fuel"], "mileage": row["odometer"],
               "transmission": row["transmission"], "drivetrain": row["drive"], "body_style": row["type"],
               "exterior_color": row["paint_color"], "price": row["price"]}  # fmt: skip
        # The sample dropped every id column: without one, nothing can be identified.
        anonymous = observe(raw, dealer_id="craigslist", source="scrape")
        assert isinstance(anonymous, Rejection) and anonymous.field == "vin"
        assert anonymous.reason == "no valid VIN and no stock number: the vehicle cannot be identified"
        event = valid(observe({**raw, "stock_number": f"row-{index}"}, dealer_id="craigslist", source="scrape"))
        warnings.update((warning.field, warning.code) for warning in event.warnings)
        assert event.price is None or float(event.price) >= 100
        assert event.mileage is None or event.mileage <= 5_000_000
        assert event.condition in ("new", "used", None)
        assert event.drivetrain in ("AWD", "4WD", "FWD", "RWD", None)
        if row["year"]:
            assert event.year == int(float(row["year"]))  # "2012.0"
    # Prices of $1..$99 and negative ones, odometers up to 10,000,000: dropped, with a warning each.
    assert warnings == {("price", "implausible"): 84, ("mileage", "implausible"): 5}
