"""The fast path of the edge limits (``core.limits.quick_tree_issues``, through a value's orjson
bytes) gives exactly what the full walk gives, on values within the limits and on every kind of
value outside them, wherever it sits, and on values orjson cannot write or writes as null."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.core import limits
from gateway.core.limits import (
    MAX_DEPTH,
    MAX_KEY,
    MAX_TEXT,
    quick_tree_issues,
    tree_issues,
)
from tests.conftest import SHARED_SAMPLES
from tests.limit_payloads import nested

BINARY = frozenset({"data"})


def _in(where: str, value: Any) -> dict[str, Any]:
    """A FHIR-like resource carrying ``value`` at one place."""
    body: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    if where == "top":
        body["note"] = value
    elif where == "deep":
        body["component"] = [{"code": {"coding": [{"display": value}]}}]
    elif where == "list":
        body["category"] = ["a", value, "b"]
    return body


OUTSIDE = [
    pytest.param("a\x00b", id="NUL"),
    pytest.param("a\x01b", id="C0 control U+0001"),
    pytest.param("a\x08b", id="backspace, written \\b"),
    pytest.param("a\x0cb", id="form feed, written \\f"),
    pytest.param("a\x1fb", id="C0 control U+001F"),
    pytest.param("a\ufffeb", id="U+FFFE"),
    pytest.param("a\uffffb", id="U+FFFF"),
    pytest.param("x" * (MAX_TEXT + 1), id="string over the length"),
]
WITHIN = [
    pytest.param("tab\tline\nreturn\r", id="tab, line feed, carriage return"),
    pytest.param('quote " backslash \\ b \\b f \\f', id="escaped quote and backslashes before b and f"),
    pytest.param("é 日本 🙂 \u007f \u0080 \ufffd", id="non-ASCII, DEL, C1, U+FFFD"),
    pytest.param("x" * 5000, id="a long string"),
    pytest.param(2**64 - 1, id="largest integer kept"),
    pytest.param(-(2**63), id="smallest integer kept"),
    pytest.param(1.5e300, id="a large float"),
]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"k" * MAX_KEY: 1}, id="key at the limit"),
        pytest.param({"k" * (MAX_KEY + 1): 1}, id="key over the limit"),
        pytest.param({"a": {"é" * (MAX_KEY // 2 + 1): 1}}, id="multibyte key within the limit"),
        pytest.param({"a": [{"é" * (MAX_KEY + 1): 1}]}, id="multibyte key over the limit"),
        pytest.param({"a": {"k\x00": 1}}, id="NUL in a key"),
        pytest.param({"a": ["," + '"' + "v" * (MAX_KEY + 5) + '":']}, id="value like a long key"),
        pytest.param(nested(MAX_DEPTH), id="at the depth limit"),
        pytest.param(nested(MAX_DEPTH + 1), id="over the depth limit"),
        pytest.param({"a": [1, {"b": nested(MAX_DEPTH - 1)}]}, id="over the depth limit, inside"),
        pytest.param({"data": "QUJD" * 10, "content": {"data": "a\x00"}}, id="binary key with a NUL"),
        pytest.param(
            [{"s": "x" * 1000, "n": n} for n in range(MAX_TEXT // 900)], id="a bulk file of short strings"
        ),
        pytest.param([{"s": 'say "x"' * 200} for _ in range(MAX_TEXT // 1200)], id="a bulk file with quotes"),
        pytest.param(
            [{"s": "short"}, {"s": "x" * (MAX_TEXT + 1)}], id="a bulk file with one string too long"
        ),
        pytest.param([{"s": "x" * MAX_TEXT}, {"s": "y" * 10}], id="a bulk file with a string at the limit"),
        pytest.param([], id="an empty list"),
        pytest.param("just text", id="a scalar"),
    ],
)
def test_keys_depth_and_binaries_give_the_full_walks_issues(doc: Any) -> None:
    assert quick_tree_issues(doc, binary_keys=BINARY) == tree_issues(doc, binary_keys=BINARY)


# Values orjson cannot write, or writes as null.
UNWRITTEN = [
    pytest.param(float("inf"), id="infinity"),
    pytest.param(float("nan"), id="NaN"),
    pytest.param(2**64, id="integer beyond 64 bits"),
    pytest.param(-(2**63) - 1, id="integer below 64 bits"),
    pytest.param("a\ud800b", id="lone surrogate"),
    pytest.param(None, id="null"),
]


@pytest.mark.parametrize("where", ["top", "deep", "list"])
@pytest.mark.parametrize("value", OUTSIDE + WITHIN + UNWRITTEN)
def test_any_value_anywhere_gives_the_full_walks_issues(value: Any, where: str) -> None:
    doc = _in(where, value)
    assert quick_tree_issues(doc, "$[2]", binary_keys=BINARY) == tree_issues(doc, "$[2]", binary_keys=BINARY)


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param([{"s": "x" * 30}, {"s": "y" * 30}], id="longer than the limit, each string within"),
        pytest.param([{"s": "x" * 30}, {"s": "y" * 61}], id="one string over"),
        pytest.param([{"s": 'say "x" ' * 10}], id="one string over, with quotes inside"),
        pytest.param([{"s": 'a "b"'}, {"s": "y" * 30}, {"s": "z" * 30}], id="quotes, each string within"),
    ],
)
def test_a_document_longer_than_the_text_limit(doc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_TEXT", 60)  # read at each check
    assert len(orjson.dumps(doc)) > 60
    assert quick_tree_issues(doc) == tree_issues(doc)


def test_issues_are_found_at_all() -> None:
    """The table above compares with the full walk; this pins that the outside rows are outside."""
    doc = _in("deep", "a\x00b")
    issues = quick_tree_issues(doc, "line 1")
    assert [i.path for i in issues] == ["line 1.component[0].code.coding[0].display"]


def _sample_resources() -> list[Any]:
    found: list[Any] = []
    for path in sorted((SHARED_SAMPLES / "gravity").rglob("*.json")):
        try:
            found.append(orjson.loads(path.read_bytes()))
        except orjson.JSONDecodeError:
            continue
    return found


def test_real_resources_are_within_without_the_full_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = _sample_resources()
    if not resources:
        pytest.skip(f"no Gravity samples at {SHARED_SAMPLES}")
    assert all(tree_issues(doc) == [] for doc in resources)
    walked: list[Any] = []
    monkeypatch.setattr(limits, "tree_issues", lambda doc, *a, **k: walked.append(doc) or [])
    assert all(quick_tree_issues(doc) == [] for doc in resources)
    assert walked == []
