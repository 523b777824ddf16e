"""docs/replay.md's retention table says what streams.yaml configures."""

from __future__ import annotations

import re
from pathlib import Path

from od import streams

DOC = Path(__file__).resolve().parents[2] / "docs" / "replay.md"
_DAY_NS = 86400 * 10**9


def test_retention_table_matches_streams_yaml() -> None:
    rows = dict(re.findall(r"^\| `(OD_\w+)` \| [^|]+ \| ([^|]+) \|$", DOC.read_text(), re.M))
    spec = streams.load()
    assert set(rows) == {s.name for s in spec.streams}
    for stream in spec.streams:
        max_age = streams.duration_ns(stream.max_age or 0)
        said = rows[stream.name]
        assert said.startswith("forever") if max_age == 0 else said.startswith(f"{max_age // _DAY_NS} days"), (
            stream.name
        )
