"""Pure normalization of dealer feed values into contract events (no I/O).

Fetchers map their source's keys to the contract's field names and call
``observation_from_raw``; the helpers below are the single place each kind of dirty value
(money, mileage, dates, VINs, makes, ...) is cleaned.
"""

from od.normalize.canonical import (
    canonical_body_style,
    canonical_drivetrain,
    canonical_fuel_type,
    canonical_make,
    canonical_model,
    canonical_transmission,
    proper_case,
)
from od.normalize.dates import parse_date
from od.normalize.dealer_com import dealer_com_raw
from od.normalize.flags import boolean, condition
from od.normalize.homenet import homenet_raw
from od.normalize.homenet_csv import parse_homenet_csv
from od.normalize.numbers import mileage, money
from od.normalize.observation import Rejection, default_event_id, observation_from_raw
from od.normalize.text import clean_text
from od.normalize.urls import image_list, url
from od.normalize.vin import VinCheck, check_vin

__all__ = [
    "Rejection",
    "VinCheck",
    "boolean",
    "canonical_body_style",
    "canonical_drivetrain",
    "canonical_fuel_type",
    "canonical_make",
    "canonical_model",
    "canonical_transmission",
    "check_vin",
    "clean_text",
    "condition",
    "dealer_com_raw",
    "default_event_id",
    "homenet_raw",
    "image_list",
    "mileage",
    "money",
    "observation_from_raw",
    "parse_date",
    "parse_homenet_csv",
    "proper_case",
    "url",
]
