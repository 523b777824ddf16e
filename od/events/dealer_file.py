"""A dealer as an operator writes it (YAML or JSON) → a validated ``DealerChanged``.

Validation is the event's own (msgspec constraints on ``DealerChanged``), plus a check for
unknown keys: the event ignores them for forward compatibility, but in a hand-written file
``adress:`` is a typo that would silently drop the address. Every error names the field
and the line of the file it comes from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
import yaml

from od.events.model import DealerChanged

Format = Literal["yaml", "json"]
_Unknown = tuple[list[str | int], list[str]]
"""An unknown key's path, and the keys its mapping may hold."""

_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_JSON_BYTE = re.compile(r"\(byte (\d+)\)")
_PLATFORM_CONFIG = {"homenet": "rooftop_id", "dealer_com": "site_url", "scrape": "inventory_url"}
"""Each platform a dealer is pulled from, and the setting its fetcher cannot do without."""


class DealerFileError(ValueError):
    """What is wrong with a dealer file, where: ``source:line: `field`: reason``."""

    def __init__(self, reason: str, *, source: str, path: str = "$", line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.path = path
        self.line = line
        super().__init__(str(self))

    @property
    def field(self) -> str:
        """The field as a dotted name (``address.city``), empty for the whole document."""
        return _dotted(_steps(self.path))

    @property
    def pointer(self) -> str:
        """The field as a JSON Pointer (RFC 6901), for problem details."""
        return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in _steps(self.path))

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: `{self.field}`: {self.reason}" if self.field else f"{where}: {self.reason}"


def parse_dealer(
    text: bytes | str,
    *,
    source: str = "<dealer>",
    fmt: Format = "yaml",
) -> DealerChanged:
    """Decode and validate one dealer for an upsert (deleting takes only an id, no file)."""
    raw = text.encode() if isinstance(text, str) else text
    node, data = _load(raw, source, fmt)
    if not isinstance(data, dict):
        raise DealerFileError("a dealer file holds one mapping of fields", source=source, line=_line(node, []))
    if data.setdefault("operation", "upsert") != "upsert":
        raise DealerFileError(
            "only `upsert` here; to delete a dealer, delete it by id",
            source=source,
            path="$.operation",
            line=_line(node, ["operation"]),
        )
    unknown = list(_unknown_keys(data, msgspec.inspect.type_info(DealerChanged), []))
    if unknown:
        raise _unknown_error(unknown, node, source)
    try:
        event = msgspec.convert(data, DealerChanged)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        assert match is not None
        path = match["path"] or "$"
        reason = match["reason"]
        if "got `int`" in reason and "`str" in reason:
            reason += " (quote the value: YAML reads digits as a number)"
        raise DealerFileError(reason, source=source, path=path, line=_line(node, _steps(path))) from None
    for platform in event.platforms:
        if platform in _PLATFORM_CONFIG and getattr(event, platform) is None:
            raise DealerFileError(
                f"platform `{platform}` needs `{platform}: {{{_PLATFORM_CONFIG[platform]}: ...}}`",
                source=source,
                path=f"$.platforms[{event.platforms.index(platform)}]",
                line=_line(node, ["platforms", event.platforms.index(platform)]),
            )
    return event


def _unknown_error(unknown: list[_Unknown], node: yaml.Node | None, source: str) -> DealerFileError:
    first, known = unknown[0]
    close = difflib.get_close_matches(str(first[-1]), known, n=1)
    reason = "unknown field" + (f", did you mean `{close[0]}`?" if close else "")
    if len(unknown) > 1:
        reason += "; also unknown: " + ", ".join(
            f"`{_dotted(s)}` (line {_line(node, s, key=True)})" for s, _ in unknown[1:]
        )
    return DealerFileError(reason, source=source, path=_path(first), line=_line(node, first, key=True))


def _load(raw: bytes, source: str, fmt: Format) -> tuple[yaml.Node | None, Any]:
    """The document as builtins, and its YAML node tree for line numbers (JSON is YAML)."""
    if fmt == "json":
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            offset = _JSON_BYTE.search(str(exc))
            line = raw[: int(offset[1])].count(b"\n") + 1 if offset else None
            raise DealerFileError(_JSON_BYTE.sub("", str(exc)).strip(), source=source, line=line) from None
        try:
            return yaml.compose(raw, Loader=yaml.SafeLoader), data
        except yaml.YAMLError:
            return None, data
    loader = yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(f"{exc.context or ''} {exc.problem or ''}".split()) or "malformed YAML"
        raise DealerFileError(reason, source=source, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise DealerFileError(" ".join(str(exc).split()), source=source) from None
    finally:
        loader.dispose()
    if node is None:
        raise DealerFileError("the file is empty", source=source)
    return node, data


def _unknown_keys(value: Any, info: msgspec.inspect.Type, steps: list[str | int]) -> Iterator[_Unknown]:
    """Paths of keys that no Struct in ``info`` declares (with the names it does), depth first."""
    if isinstance(info, msgspec.inspect.UnionType):
        for option in info.types:
            if isinstance(option, msgspec.inspect.StructType | msgspec.inspect.ListType | msgspec.inspect.DictType):
                yield from _unknown_keys(value, option, steps)
                return
    elif isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        for key, item in value.items():
            if key in fields:
                yield from _unknown_keys(item, fields[key], [*steps, key])
            elif key != info.tag_field:
                yield [*steps, key], list(fields)
    elif isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown_keys(item, info.item_type, [*steps, index])
    elif isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        for key, item in value.items():
            yield from _unknown_keys(item, info.value_type, [*steps, key])


def _steps(path: str) -> list[str | int]:
    """``$.platforms[1].x`` → ``["platforms", 1, "x"]``; stops at msgspec's ``[...]`` (a dict value)."""
    steps: list[str | int] = []
    for name, index in _STEP.findall(path):
        if index == "...":
            break
        steps.append(int(index) if index else name)
    return steps


def _path(steps: list[str | int]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


def _dotted(steps: list[str | int]) -> str:
    return _path(steps).removeprefix("$").removeprefix(".")


def _line(node: yaml.Node | None, steps: list[str | int], *, key: bool = False) -> int | None:
    """1-based line of the deepest node on ``steps`` that exists (its key's line if ``key``)."""
    if node is None:
        return None
    at: yaml.Node = node
    for depth, step in enumerate(steps, 1):
        if isinstance(at, yaml.MappingNode):
            found = next(((k, v) for k, v in at.value if k.value == step), None)
            if found is None:
                break
            if key and depth == len(steps):
                at = found[0]
                break
            at = found[1]
        elif isinstance(at, yaml.SequenceNode) and isinstance(step, int) and step < len(at.value):
            at = at.value[step]
        else:
            break
    return at.start_mark.line + 1
