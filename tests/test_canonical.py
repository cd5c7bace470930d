"""``core.canonical``: the fast encoder (orjson) must write exactly the bytes ``json`` writes, or
hand over to it; digests are stored and compared across versions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.canonical import canonical_json, digest


def reference(value: Any) -> bytes:
    """The form as it was first written: ``json`` alone."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def same_as_reference(value: Any) -> None:
    try:
        expected = reference(value)
    except Exception as exc:  # the same refusal, of the same type
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(['"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "é", "中", "\U0001f600", ":", ",", "["]),
    max_size=12,
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
    | st.sampled_from(["1.5", ":1e5", "[1.0", "null", "sha256:98e1", '":1.0'])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_TEXT, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(_VALUES)
def test_the_bytes_are_those_of_json(value: Any) -> None:
    same_as_reference(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers() | st.booleans() | st.none() | _TEXT, st.integers(), max_size=4))
def test_keys_that_are_not_text_are_spelled_as_json_spells_them(value: dict[Any, Any]) -> None:
    same_as_reference(value)


def test_floats_of_every_magnitude() -> None:
    chance = random.Random(8785)
    values: list[float] = [1e16, 1e15, 1e-4, 1e-5, 5e-324, 1.7976931348623157e308, -0.0, 0.0, 0.1, 100.0]
    values += [chance.uniform(-1, 1) * 10 ** chance.randint(-30, 30) for _ in range(1500)]
    values += [struct.unpack("d", struct.pack("Q", chance.getrandbits(64)))[0] for _ in range(1500)]
    for value in values:
        if math.isfinite(value):
            for shaped in (value, [value], {"a": value}, {"a": [1, {"b": value}]}):
                assert canonical_json(shaped) == reference(shaped)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"a": [math.nan]}])
def test_not_a_number_is_refused_as_before(value: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json(value)


def test_text_of_every_kind() -> None:
    every = "".join(chr(c) for c in range(0x250)) + "\u2028\u2029\ud7ff\ue000\uffff\U0001f600中文"
    for value in (every, {every: every}, [every, {"k": every}], {"é": 1, "e": 2, "\U0001f600": 3, "z": 4}):
        assert canonical_json(value) == reference(value)


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"a": "\ud800"})


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        2**64,
        -(2**63) - 1,
        {"a": Color.RED},
        {"a": Name("x")},
        {Name("k"): 1},
        {"a": True, "b": False, "c": None},
        {"a": Point(1)},
        {"a": dt.date(2026, 1, 1)},
        {"a": (1, 2)},
    ],
)
def test_values_orjson_would_spell_otherwise_go_to_json(value: Any) -> None:
    same_as_reference(value)


def test_a_plan_element_digest_is_unchanged() -> None:
    element = {
        "id": "el-2e7abcdefghijklmnopqrstuvw",
        "code": {"system": "uri://ed-fi.org/AttendanceEventCategoryDescriptor", "code": "excused-absence"},
        "effective": "2026-09-01",
        "provenance": {
            "sourceRecord": {"type": "x", "id": "B1|2", "digest": "sha256:98e1" + "0" * 60},
            "receivedAt": "2026-11-23T12:00:00+00:00",
        },
        "labels": {"regime": "FERPA", "sensitivity": "normal", "category": "attendance"},
    }
    assert canonical_json(element) == reference(element)
    assert digest(element) == "sha256:" + __import__("hashlib").sha256(reference(element)).hexdigest()


def test_deep_structures_are_written_as_json_writes_them() -> None:
    deep: Any = "leaf"
    for level in range(400):  # deeper than orjson goes
        deep = [deep] if level % 2 else {"k": deep}
    assert canonical_json(deep) == reference(deep)
