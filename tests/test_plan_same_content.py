"""``core.plan.same_content``: its quick "surely differ" answer must never contradict the digests
it stands in front of (a wrong "differ" would count an unchanged element as changed)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.canonical import digest
from gateway.core.plan import content_digest, same_content, surely_differ

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(min_value=-2, max_value=2)
    | st.sampled_from([0.0, -0.0, 1.0, math.nan])
    | st.sampled_from(["a", "b", "1", "true", ""])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]) | st.integers(0, 2), inner, max_size=3)
    ),
    max_leaves=12,
)


def _digest_or_none(value: Any) -> str | None:
    try:
        return digest(value)
    except (ValueError, TypeError):  # NaN, or keys of mixed types: refused by the canonical form
        return None


@settings(max_examples=3000, deadline=None)
@given(_VALUES, _VALUES)
def test_surely_differ_is_never_wrong(one: Any, other: Any) -> None:
    if surely_differ(one, other):
        assert _digest_or_none(one) != _digest_or_none(other) or _digest_or_none(one) is None


@settings(max_examples=1000, deadline=None)
@given(_VALUES)
def test_a_value_never_differs_from_itself_or_its_json_twin(value: Any) -> None:
    assert not surely_differ(value, value)
    twin = __import__("json").loads(__import__("json").dumps(value)) if _digest_or_none(value) else value
    assert not surely_differ(value, twin)


@pytest.mark.parametrize(
    ("one", "other", "differ"),
    [
        (1, True, True),
        (1, 1.0, True),
        (0.0, -0.0, False),  # left to the digests, which tell them apart
        ([1, 2], (1, 2), False),
        ({1: "a"}, {"1": "a"}, False),  # json writes both keys as "1"
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ("x", "y", True),
        (None, 0, True),
        (math.nan, math.nan, False),
    ],
)
def test_surely_differ_table(one: Any, other: Any, differ: bool) -> None:
    assert surely_differ(one, other) is differ


def _element(value: Any, message: str) -> dict[str, Any]:
    return {
        "id": "el-1",
        "value": value,
        "provenance": {"mapping": "m@1", "messageId": message, "receivedAt": message},
        "labels": {"regime": "FERPA"},
    }


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (_element(0.5, "m1"), _element(0.5, "m2"), True),  # when it arrived is not what it says
        (_element(0.5, "m1"), _element(0.6, "m1"), False),
        (_element(1, "m1"), _element(True, "m1"), False),
        (_element([1], "m1"), _element((1,), "m2"), True),
    ],
)
def test_same_content_agrees_with_content_digest(one: Any, other: Any, same: bool) -> None:
    assert same_content(one, other) is same
    assert (content_digest(one) == content_digest(other)) is same
