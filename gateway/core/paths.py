"""A small, closed path language for reading source records.

    $.a.b          field b of field a of the record root
    @.code         relative to the current item of a ``for_each``
    $.list[0]      an index
    $.list[*]      every item
    $.list[?system=http://loinc.org]   items whose ``system`` equals the text after ``=``

Evaluation returns every match with its concrete location, so the mapping trace can tell
which source fields were read and which were left unused. There is no ``eval`` and no
escape hatch: anything else is a syntax error reported when the mapping loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(
    r"\.(?P<field>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|\[(?P<index>\d+)\]"
    r"|\[(?P<star>\*)\]"
    r"|\[\?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^\]]*)\]"
)


class PathSyntaxError(ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class Segment:
    kind: str  # field | index | star | filter
    name: str = ""
    index: int = 0
    value: str = ""


@dataclass(frozen=True, kw_only=True)
class Path:
    text: str
    relative: bool
    segments: tuple[Segment, ...]
    # A path of plain fields only (most are) is read by a direct walk: the names, and the
    # location suffix they give. None for paths with indexes, stars or filters.
    fields: tuple[str, ...] | None = None
    suffix: str = ""


@dataclass(frozen=True, kw_only=True)
class Match:
    location: str
    value: Any


def parse_path(text: str) -> Path:
    if not text or text[0] not in "$@":
        raise PathSyntaxError(
            f"path {text!r}: must start with '$' (record) or '@' (current item) at offset 0"
        )
    segments: list[Segment] = []
    pos = 1
    while pos < len(text):
        found = _SEGMENT.match(text, pos)
        if found is None:
            raise PathSyntaxError(f"path {text!r}: cannot read {text[pos:]!r} at offset {pos}")
        segments.append(_segment_of(found))
        pos = found.end()
    plain = all(s.kind == "field" for s in segments)
    return Path(
        text=text,
        relative=text[0] == "@",
        segments=tuple(segments),
        fields=tuple(s.name for s in segments) if plain else None,
        suffix="".join(f".{s.name}" for s in segments) if plain else "",
    )


def _segment_of(found: re.Match[str]) -> Segment:
    if found.group("field") is not None:
        return Segment(kind="field", name=found.group("field"))
    if found.group("index") is not None:
        return Segment(kind="index", index=int(found.group("index")))
    if found.group("star") is not None:
        return Segment(kind="star")
    return Segment(kind="filter", name=found.group("key"), value=found.group("value"))


def evaluate(path: Path, root: Any, base_location: str = "$") -> tuple[Match, ...]:
    """Every value the path reaches from ``root``, with its concrete location."""
    if path.fields is not None:
        return _walk_fields(path, root, base_location)
    current = [Match(location=base_location, value=root)]
    for segment in path.segments:
        current = [step for match in current for step in _step(segment, match)]
    return tuple(m for m in current if m.value is not None)


def _walk_fields(path: Path, root: Any, base_location: str) -> tuple[Match, ...]:
    value = root
    for name in path.fields or ():
        if not isinstance(value, dict) or name not in value:
            return ()
        value = value[name]
    if value is None:
        return ()
    return (Match(location=base_location + path.suffix, value=value),)


def _step(segment: Segment, match: Match) -> Iterator[Match]:
    value = match.value
    if segment.kind == "field":
        if isinstance(value, dict) and segment.name in value:
            yield Match(location=f"{match.location}.{segment.name}", value=value[segment.name])
        return
    if not isinstance(value, list):
        return
    if segment.kind == "index":
        if segment.index < len(value):
            yield Match(
                location=f"{match.location}[{segment.index}]",
                value=value[segment.index],
            )
        return
    for i, item in enumerate(value):
        if segment.kind == "star" or (
            isinstance(item, dict) and segment.name in item and str(item[segment.name]) == segment.value
        ):
            yield Match(location=f"{match.location}[{i}]", value=item)


def leaf_locations(root: Any, location: str = "$") -> Iterator[str]:
    """Locations of every scalar in a JSON-like value, for the unused-fields report."""
    if isinstance(root, dict):
        for key, item in root.items():
            yield from leaf_locations(item, f"{location}.{key}")
    elif isinstance(root, list):
        for i, item in enumerate(root):
            yield from leaf_locations(item, f"{location}[{i}]")
    elif root is not None:
        yield location
