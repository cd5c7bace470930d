"""Paths of a compiled mapping (``core.mapping_compiled``): each path once into two readers,
its matches with their locations (a field's trace needs them) and its bare values (a condition
needs no more). Same matches, in the same order, as ``paths.evaluate``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.core.paths import Path, Segment

__all__ = ["Found", "Item", "MatchesFn", "Reads", "ValuesFn", "finders"]

Found = tuple[str, Any]  # (location, value)
Item = Found | None  # the current item of a ``for_each``; None at the record's top


class Reads:
    """The record of one run and what its paths of many matches gave, by path: one such path is
    often read by several rules and conditions (a FHIR category filter, a LOINC answer)."""

    __slots__ = ("matched", "record", "valued")

    def __init__(self, record: Any) -> None:
        self.record = record
        self.matched: dict[str, list[Found]] = {}
        self.valued: dict[str, list[Any]] = {}


MatchesFn = Callable[[Reads, Item], list[Found]]
ValuesFn = Callable[[Reads, Item], list[Any]]


def finders(path: Path) -> tuple[MatchesFn, ValuesFn]:
    """Two readers of ``path``: matches with their locations, and bare values (for conditions)."""
    if all(segment.kind in ("field", "index") for segment in path.segments):
        value_at, suffix = _single(path.segments)
        return _single_readers(value_at, suffix, path.relative)
    walk_matches, walk_values = _general(path.segments)
    if path.relative:
        return (
            lambda run, item: [] if item is None else walk_matches(item[1], item[0]),
            lambda run, item: [] if item is None else walk_values(item[1]),
        )
    text = path.text

    def matches(run: Reads, item: Item) -> list[Found]:
        found = run.matched.get(text)
        if found is None:
            found = run.matched[text] = walk_matches(run.record, "$")
        return found

    def values(run: Reads, item: Item) -> list[Any]:
        found = run.valued.get(text)
        if found is None:
            found = run.valued[text] = walk_values(run.record)
        return found

    return matches, values


def _single(segments: tuple[Segment, ...]) -> tuple[Callable[[Any], Any], str]:
    """A path of fields and indexes (most are) reaches one value at most, at a fixed suffix:
    a direct walk, None when it reaches nothing (a missing key and a null one alike, as in
    ``paths.evaluate``)."""
    suffix = "".join(f".{s.name}" if s.kind == "field" else f"[{s.index}]" for s in segments)
    if all(segment.kind == "field" for segment in segments):
        return _fields_at(tuple(segment.name for segment in segments)), suffix
    steps = tuple((s.kind == "field", s.name, s.index) for s in segments)

    def value_at(root: Any) -> Any:
        value = root
        for is_field, name, index in steps:
            if is_field:
                if not isinstance(value, dict):
                    return None
                value = value.get(name)
            elif isinstance(value, list) and index < len(value):
                value = value[index]
            else:
                return None
        return value

    return value_at, suffix


_get: Callable[[Any, str], Any] = (
    dict.get
)  # unbound: raises TypeError on anything but a dict, as ``isinstance`` would refuse it


def _fields_at(names: tuple[str, ...]) -> Callable[[Any], Any]:
    """The walk of a path of fields (the commonest), spelled out for one and two of them."""
    if len(names) == 1:
        (only,) = names

        def one(root: Any) -> Any:
            try:
                return _get(root, only)
            except TypeError:
                return None

        return one
    if len(names) == 2:
        first, second = names

        def two(root: Any) -> Any:
            try:
                return _get(_get(root, first), second)
            except TypeError:
                return None

        return two

    def many(root: Any) -> Any:
        value = root
        try:
            for name in names:
                value = _get(value, name)
        except TypeError:
            return None
        return value

    return many


def _single_readers(
    value_at: Callable[[Any], Any], suffix: str, relative: bool
) -> tuple[MatchesFn, ValuesFn]:
    if not relative:
        location = "$" + suffix

        def matches(run: Reads, item: Item) -> list[Found]:
            value = value_at(run.record)
            return [] if value is None else [(location, value)]

        def values(run: Reads, item: Item) -> list[Any]:
            value = value_at(run.record)
            return [] if value is None else [value]

        return matches, values

    def relative_matches(run: Reads, item: Item) -> list[Found]:
        value = None if item is None else value_at(item[1])
        return [] if value is None or item is None else [(item[0] + suffix, value)]

    def relative_values(run: Reads, item: Item) -> list[Any]:
        value = None if item is None else value_at(item[1])
        return [] if value is None else [value]

    return relative_matches, relative_values


def _general(
    segments: tuple[Segment, ...],
) -> tuple[Callable[[Any, str], list[Found]], Callable[[Any], list[Any]]]:
    steps = [_step(segment) for segment in segments]
    value_steps = [_value_step(segment) for segment in segments]

    def matches(root: Any, base: str) -> list[Found]:
        current: list[Found] = [(base, root)]
        for step in steps:
            current = step(current)
        return [found for found in current if found[1] is not None]

    def values(root: Any) -> list[Any]:
        current: list[Any] = [root]
        for step in value_steps:
            current = step(current)
        return [value for value in current if value is not None]

    return matches, values


def _step(segment: Segment) -> Callable[[list[Found]], list[Found]]:
    name, want = segment.name, segment.value
    if segment.kind == "field":
        dotted = "." + name
        return lambda cur: [(loc + dotted, v[name]) for loc, v in cur if isinstance(v, dict) and name in v]
    if segment.kind == "index":
        at, bracket = segment.index, f"[{segment.index}]"
        return lambda cur: [(loc + bracket, v[at]) for loc, v in cur if isinstance(v, list) and at < len(v)]
    if segment.kind == "star":
        return lambda cur: [
            (f"{loc}[{i}]", x) for loc, v in cur if isinstance(v, list) for i, x in enumerate(v)
        ]
    return lambda cur: [
        (f"{loc}[{i}]", x)
        for loc, v in cur
        if isinstance(v, list)
        for i, x in enumerate(v)
        if isinstance(x, dict) and name in x and str(x[name]) == want
    ]


def _value_step(segment: Segment) -> Callable[[list[Any]], list[Any]]:
    name, want = segment.name, segment.value
    if segment.kind == "field":
        return lambda cur: [v[name] for v in cur if isinstance(v, dict) and name in v]
    if segment.kind == "index":
        at = segment.index
        return lambda cur: [v[at] for v in cur if isinstance(v, list) and at < len(v)]
    if segment.kind == "star":
        return lambda cur: [x for v in cur if isinstance(v, list) for x in v]
    return lambda cur: [
        x
        for v in cur
        if isinstance(v, list)
        for x in v
        if isinstance(x, dict) and name in x and str(x[name]) == want
    ]
