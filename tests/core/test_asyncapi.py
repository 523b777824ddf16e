"""asyncapi.yaml and docs/events.md are generated from the event types and kept in sync."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema_rs
import yaml
from hypothesis import given
from hypothesis import strategies as st

from od import streams
from od.events import EVENT_TYPES, Subjects, decode_event, encode_event, event_type
from od.events import asyncapi as aa
from od.events.examples import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate: od events asyncapi --out asyncapi.yaml && od events docs --out docs/events.md"


def test_asyncapi_yaml_is_up_to_date() -> None:
    assert (ROOT / "asyncapi.yaml").read_text() == aa.to_yaml(aa.document()), REGENERATE


def test_events_md_reference_is_up_to_date() -> None:
    text = (ROOT / "docs" / "events.md").read_text()
    assert aa.replace_generated(text, aa.reference_markdown()) == text, REGENERATE


def test_every_event_has_one_channel_with_its_real_subject() -> None:
    assert sorted(c.type_name for c in aa.CHANNELS) == sorted(event_type(t) for t in EVENT_TYPES)
    for channel in aa.CHANNELS:
        pattern = re.escape(channel.address).replace(r"\{dealer_id\}", "[^.]+").replace(r"\{source\}", "[^.]+")
        assert re.fullmatch(pattern, Subjects().for_event(EXAMPLES[channel.type_name])), channel.address


def test_every_channel_names_the_stream_that_stores_it() -> None:
    spec = streams.load()
    for channel in aa.CHANNELS:
        subject = Subjects().for_event(EXAMPLES[channel.type_name])
        (stored_in,) = [s.name for s in spec.streams if any(_matches(f, subject) for f in s.subjects)]
        assert stored_in == channel.stream


def test_examples_are_valid_events_and_match_the_published_schemas() -> None:
    doc = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
    for name, message in doc["components"]["messages"].items():
        (example,) = message["examples"]
        assert decode_event(json.dumps(example["payload"]).encode()) == EXAMPLES[name]
        assert example["headers"]["Nats-Msg-Id"] == example["payload"]["event_id"]
        schema = {"components": doc["components"], "$ref": message["payload"]["$ref"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(example["payload"])]
        assert errors == [], name
        assert set(aa.ENVELOPE) <= set(doc["components"]["schemas"][name]["required"])


def test_schema_rejects_what_the_decoder_rejects() -> None:
    doc = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
    schema = {"components": doc["components"], "$ref": "#/components/schemas/VehicleChanged"}
    payload = json.loads(encode_event(EXAMPLES["VehicleChanged"]))
    payload["vehicle"]["price"] = "$23,995"
    assert not jsonschema_rs.validator_for(schema).is_valid(payload)


@given(st.text(alphabet="ab\n#<!->", max_size=40), st.text(alphabet="xy\n", max_size=20), st.text(max_size=20))
def test_regenerating_replaces_the_block_and_keeps_the_prose(prose: str, first: str, second: str) -> None:
    once = aa.replace_generated(prose, first)
    twice = aa.replace_generated(once, second)
    assert twice == aa.replace_generated(prose, second)
    assert twice.count(aa.GENERATED_BEGIN) == 1
    assert twice.startswith(prose.rstrip("\n"))


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more trailing tokens."""
    p, s = pattern.split("."), subject.split(".")
    if p[-1] == ">":
        return len(s) >= len(p) and all(a in ("*", b) for a, b in zip(p[:-1], s, strict=False))
    return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s, strict=True))
