"""The HomeNet "standard" CSV export (DealerSend/FTP): rows -> raw contract dicts.

Columns are matched by header name, never by position (exports differ in column order and
count). Tolerates a UTF-8 BOM, Windows-1252 bytes, and comma, tab or pipe delimiters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from od.normalize.homenet import combine, homenet_columns

_DELIMITERS = (",", "\t", "|", ";")


def decode(data: bytes | str) -> str:
    """Text of an export: UTF-8 (with or without BOM), else Windows-1252."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter(header_line: str) -> str:
    """The delimiter the header line uses most (a header has many columns, so this is reliable)."""
    return max(_DELIMITERS, key=header_line.count)


def parse_homenet_csv(data: bytes | str) -> Iterator[dict[str, object]]:
    """Raw vehicles in contract field names; blank lines skipped, short rows padded."""
    text = decode(data)
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(first_line))
    header = next(reader, None)
    if not header:
        return
    names = [name.strip() for name in header]
    columns = homenet_columns(names)
    # (position, field) of the known columns; the first column wins when two map to one field
    wanted: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in columns:
            wanted.setdefault(columns[name], position)
    picks = [(position, field) for field, position in wanted.items()]
    for row in reader:
        if not any(row) or not "".join(row).strip():
            continue
        width = len(row)
        yield combine({field: row[position] for position, field in picks if position < width})
