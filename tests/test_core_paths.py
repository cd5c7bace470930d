"""The closed path language: what parses, what does not (and where it stops), and what each
path reaches in a record, with the concrete location of every match."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.paths import PathSyntaxError, evaluate, leaf_locations, parse_path

RECORD: dict[str, Any] = {
    "id": "obs-1",
    "status": None,
    "name": {"given": "Ana", "family": "Lopez"},
    "coding": [
        {"system": "http://loinc.org", "code": "88124-3"},
        {"system": "http://snomed.info/sct", "code": "733423003"},
        {"system": "http://loinc.org", "code": "88122-7"},
        {"code": "no-system"},
    ],
    "a": [{"b": 1}, {"b": 2}, {"b": 3}],
    "tags": ["x", None, "z"],
    "rank": 2,
    "flags": [{"n": 1}, {"n": "1"}],
    "kebab-case": "k",
}


# --- parse errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        # the anchor
        pytest.param("", 0, id="empty path is rejected at offset 0"),
        pytest.param("a.b", 0, id="path without $ or @ anchor is rejected at offset 0"),
        # field segments
        pytest.param("$.", 1, id="dot with no field name"),
        pytest.param("$..a", 1, id="double dot (no recursive descent)"),
        pytest.param("$a", 1, id="field without leading dot"),
        pytest.param("$.1abc", 1, id="field starting with a digit"),
        pytest.param("$.a b", 3, id="space inside a path"),
        pytest.param("$.a.", 3, id="trailing dot"),
        # bracket segments
        pytest.param("$.a[", 3, id="unclosed bracket"),
        pytest.param("$.a[-1]", 3, id="negative index"),
        pytest.param("$.a[x]", 3, id="bare word in brackets"),
        pytest.param("$.a[?system]", 3, id="filter without '='"),
        pytest.param("$.a[?=x]", 3, id="filter without key"),
        pytest.param("$.a[*", 3, id="unclosed star"),
        pytest.param("$.a[0]b", 6, id="text after a bracket"),
        # no escape hatch
        pytest.param("$.a[(@.length-1)]", 3, id="script expression"),
        pytest.param("@.a|$.b", 3, id="union operator"),
    ],
)
def test_parse_error_names_path_and_offset(text: str, offset: int) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        parse_path(text)
    message = str(caught.value)
    assert repr(text) in message
    assert f"offset {offset}" in message


def test_parse_error_for_missing_anchor_says_what_to_start_with() -> None:
    with pytest.raises(PathSyntaxError, match=r"must start with '\$'"):
        parse_path("name.given")


# --- parse results ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "relative", "kinds"),
    [
        pytest.param("$", False, (), id="bare root"),
        pytest.param("@", True, (), id="bare current item"),
        pytest.param("$.a.b", False, ("field", "field"), id="fields"),
        pytest.param("$.a[0]", False, ("field", "index"), id="index"),
        pytest.param("$.a[*].b", False, ("field", "star", "field"), id="star"),
        pytest.param(
            "@.coding[?system=http://loinc.org]", True, ("field", "filter"), id="filter with URL value"
        ),
        pytest.param("$.kebab-case", False, ("field",), id="field name with hyphen"),
    ],
)
def test_parse_path(text: str, relative: bool, kinds: tuple[str, ...]) -> None:
    path = parse_path(text)
    assert path.text == text
    assert path.relative is relative
    assert tuple(s.kind for s in path.segments) == kinds


def test_filter_segment_keeps_key_and_value() -> None:
    (_, segment) = parse_path("$.coding[?system=http://loinc.org]").segments
    assert (segment.name, segment.value) == ("system", "http://loinc.org")


# --- evaluate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # fields
        pytest.param("$", [("$", RECORD)], id="root is the record itself"),
        pytest.param("$.id", [("$.id", "obs-1")], id="top-level field"),
        pytest.param("$.name.family", [("$.name.family", "Lopez")], id="nested field"),
        pytest.param("$.kebab-case", [("$.kebab-case", "k")], id="hyphenated field"),
        pytest.param("$.rank", [("$.rank", 2)], id="number kept as number"),
        # index
        pytest.param("$.a[2].b", [("$.a[2].b", 3)], id="index then field: concrete location"),
        pytest.param("$.a[0]", [("$.a[0]", {"b": 1})], id="index yields the item"),
        pytest.param("$.a[3]", [], id="index past the end: no match"),
        pytest.param("$.name[0]", [], id="index into an object: no match"),
        # star
        pytest.param(
            "$.a[*].b",
            [("$.a[0].b", 1), ("$.a[1].b", 2), ("$.a[2].b", 3)],
            id="star yields every item in order",
        ),
        pytest.param("$.name[*]", [], id="star over an object: no match"),
        pytest.param("$.id[*]", [], id="star over a scalar: no match"),
        # filter
        pytest.param(
            "$.coding[?system=http://loinc.org].code",
            [("$.coding[0].code", "88124-3"), ("$.coding[2].code", "88122-7")],
            id="filter keeps matching items with their original index",
        ),
        pytest.param("$.coding[?system=urn:none]", [], id="filter with no matching item"),
        pytest.param(
            "$.flags[?n=1]",
            [("$.flags[0]", {"n": 1}), ("$.flags[1]", {"n": "1"})],
            id="filter compares as text (number and string)",
        ),
        pytest.param("$.coding[?system=None]", [], id="filter does not match items that lack the key"),
        # missing and None
        pytest.param("$.nope", [], id="missing field: no match"),
        pytest.param("$.nope.deeper[0].x", [], id="missing branch: no match, no error"),
        pytest.param("$.status", [], id="None value is skipped"),
        pytest.param("$.tags[*]", [("$.tags[0]", "x"), ("$.tags[2]", "z")], id="None items are skipped"),
        pytest.param("$.tags[1]", [], id="None item by index is skipped"),
        pytest.param("$.id.more", [], id="field of a scalar: no match"),
    ],
)
def test_evaluate(text: str, expected: list[tuple[str, Any]]) -> None:
    matches = evaluate(parse_path(text), RECORD)
    assert [(m.location, m.value) for m in matches] == expected


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        pytest.param("@.b", "$.a[1]", [("$.a[1].b", 2)], id="relative field under base location"),
        pytest.param("@", "$.a[1]", [("$.a[1]", {"b": 2})], id="bare @ is the item at its location"),
        pytest.param("@.missing", "$.a[1]", [], id="relative missing field: no match"),
    ],
)
def test_evaluate_relative_to_an_item(text: str, base: str, expected: list[tuple[str, Any]]) -> None:
    item = {"b": 2}
    matches = evaluate(parse_path(text), item, base)
    assert [(m.location, m.value) for m in matches] == expected


def test_falsy_values_are_matches() -> None:
    record = {"zero": 0, "empty": "", "no": False, "none": None}
    found = {
        m.location: m.value
        for t in ("$.zero", "$.empty", "$.no", "$.none")
        for m in evaluate(parse_path(t), record)
    }
    assert found == {"$.zero": 0, "$.empty": "", "$.no": False}


# --- leaf_locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("x", ["$"], id="a scalar is its own leaf"),
        pytest.param({"a": 1, "b": {"c": "d"}}, ["$.a", "$.b.c"], id="nested objects"),
        pytest.param({"a": [1, {"b": 2}]}, ["$.a[0]", "$.a[1].b"], id="lists are indexed"),
        pytest.param({"a": None, "b": [None, 0]}, ["$.b[1]"], id="None values are not leaves"),
        pytest.param({"a": {}, "b": []}, [], id="empty containers have no leaves"),
        pytest.param({"f": False, "z": 0, "s": ""}, ["$.f", "$.z", "$.s"], id="falsy scalars are leaves"),
    ],
)
def test_leaf_locations(value: Any, expected: list[str]) -> None:
    assert list(leaf_locations(value)) == expected


def test_leaf_locations_under_a_base_location() -> None:
    assert list(leaf_locations({"b": 1}, "$.a[4]")) == ["$.a[4].b"]


def test_every_leaf_location_evaluates_back_to_its_value() -> None:
    for location in leaf_locations(RECORD):
        (match,) = evaluate(parse_path(location), RECORD)
        assert match.location == location
