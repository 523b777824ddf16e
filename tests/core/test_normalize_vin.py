"""VIN checks against hundreds of real cases (../shared/realdata/vins/), each with its reason."""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from od.normalize import check_vin
from od.normalize.vin import check_digit
from tests.conftest import SHARED, shared_path

VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")

# `simple_check` column of invalid-and-odd-vins.csv (see its .source.txt): the pure
# ISO 3779 / 49 CFR 565 verdict -> (is the VIN kept?, the warning code that says why).
VERDICTS = {"ok": (True, None), "cd": (True, "check_digit"), "char": (False, "illegal_character"),
            "len": (False, "wrong_length")}  # fmt: skip
# Extra warnings a category implies for the VINs that are kept.
CATEGORY_CODES = {
    "placeholder": "placeholder",
    "placeholder_preproduction": "placeholder",
    "bad_model_year_char": "model_year_character",
    "non_us_no_check_digit": "model_year_character",
}


def _odd_vins() -> list[dict[str, str]]:
    path = SHARED / "realdata/vins/invalid-and-odd-vins.csv"
    if not path.exists():
        return [{"vin_json": "null", "skip": "1"}]
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def codes(value: object) -> list[str]:
    return [warning.code for warning in check_vin(value).warnings]


@pytest.mark.parametrize("row", _odd_vins(), ids=lambda row: f"{row.get('category')}:{row['vin_json']}")
def test_invalid_and_odd_vins_verdict_and_reason(row: dict[str, str]) -> None:
    shared_path("realdata/vins/invalid-and-odd-vins.csv")
    assert "simple_check" in shared_path("realdata/vins/invalid-and-odd-vins.csv.source.txt").read_text()
    raw = json.loads(row["vin_json"])
    result = check_vin(raw)
    kept, code = VERDICTS[row["simple_check"]]
    found = [warning.code for warning in result.warnings]
    assert (result.vin is not None) is kept, (raw, found)
    if kept:
        assert result.vin == raw.strip().upper()
        assert ("check_digit" in found) is (code == "check_digit"), found
    else:
        assert found == [code], found  # the one reason the fallback to the stock number is taken
    if kept and row["category"] in CATEGORY_CODES:
        assert CATEGORY_CODES[row["category"]] in found, found
    if row["valid_twin"]:
        assert codes(row["valid_twin"]) == []
    for warning in result.warnings:
        assert warning.detail and len(warning.detail) <= 500


def test_vin_pkg_decode_set_all_accepted_without_warnings() -> None:
    entries = yaml.safe_load(shared_path("realdata/vins/vin-pkg-test_decode.yaml").read_text())["test_decode"]
    assert len(entries) == 97
    for entry in entries:
        result = check_vin(entry["vin"])
        assert result.vin == entry["vin"]
        assert result.warnings == [], entry["vin"]


def test_nhtsa_exceptions_kept_with_check_digit_warning() -> None:
    path = shared_path("realdata/vins/vin-pkg-nhtsa-vin-exceptions.yaml")
    entries = yaml.safe_load(path.read_text())["test_vin_exceptions"]
    assert len(entries) == 299
    for entry in entries:
        result = check_vin(entry["vin"])
        assert result.vin == entry["vin"]
        assert [warning.code for warning in result.warnings] == ["check_digit"], entry["vin"]


def test_corgi_production_vins_all_kept() -> None:
    lines = shared_path("realdata/vins/corgi-benchmark-vins.txt").read_text().split()
    assert len(lines) == 1100
    flagged = {}
    for line in lines:
        result = check_vin(line)
        assert result.vin == line
        if result.warnings:
            flagged[line] = [warning.code for warning in result.warnings]
    # The README's finding 1: 7 of 1,100 fail the check digit (Canadian/export cars and one junk VIN).
    assert len(flagged) == 7
    assert all("check_digit" in found for found in flagged.values())
    assert "KL77P3EM5CK574821" in flagged
    assert "model_year_character" in flagged["00000000000001071"]


def test_corgi_fixture_vins_accepted() -> None:
    with shared_path("realdata/vins/corgi-fixture-vins.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(check_vin(row["vin"]).vin == row["vin"] for row in rows)


def test_check_digit_matches_the_files_arithmetic() -> None:
    path = shared_path("realdata/vins/ultravin-decodes-of-collected-vins.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if VIN.match(row["vin"])]
    assert len(rows) > 4000
    for row in rows:
        passes = check_digit(row["vin"]) == row["vin"][8]
        assert passes is (row["arith_check"] == "ok"), row


@pytest.mark.parametrize(
    ("raw", "vin", "expected"),
    [
        ("  jtezu11f88k007763\n", "JTEZU11F88K007763", []),
        ("2T36CRAV4TW15E540", "2T36CRAV4TW15E540", ["placeholder"]),  # letters in the serial
        ("JTM6CRAV1T119BB98", "JTM6CRAV1T119BB98", ["placeholder"]),  # replaced by JTM6CRAV6TJ007582 a day later
        ("2T36CRAV0TW23I919", None, ["illegal_character"]),
        ("1HGCV1F50 MA015459", None, ["wrong_length"]),
        ("1HGCV1F5 MA015459", None, ["illegal_character"]),
        (None, None, []),
        (12345, None, ["wrong_length"]),
    ],
)
def test_check_vin_cases(raw: object, vin: str | None, expected: list[str]) -> None:
    assert check_vin(raw).vin == vin
    assert codes(raw) == expected


def test_low_volume_maker_serial_may_hold_letters() -> None:
    # 3rd character 9: positions 12-14 name the maker, only 15-17 must be digits.
    vin = "1A9ABCDE0AABC1234"
    vin = vin[:8] + check_digit(vin) + vin[9:]
    assert codes(vin) == []


@given(st.text(max_size=40))
def test_check_vin_never_raises_and_vin_matches_contract(raw: str) -> None:
    result = check_vin(raw)
    assert result.vin is None or VIN.match(result.vin)
    if result.vin is None and raw.strip():
        assert [warning.code for warning in result.warnings] in (["wrong_length"], ["illegal_character"])


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17))
def test_any_legal_17_characters_is_kept(raw: str) -> None:
    result = check_vin(raw)
    assert result.vin == raw
    fixed = raw[:8] + check_digit(raw) + raw[9:]
    assert "check_digit" not in codes(fixed)
