"""A batch holds plans as JSON text (core.plan_texts): what is read back is the document written,
each read is its own copy, and the text is what the database column would write."""

from __future__ import annotations

import json
import tracemalloc

import orjson
import pytest

from gateway.core.plan import empty_plan
from gateway.core.plan_texts import PlanTexts, decode_plan, encode_plan, texts_of


def _plan(student_id: str) -> dict:
    plan = empty_plan(student_id)
    plan["student"]["identifiers"].append({"system": "district", "value": "ü-" + student_id})
    plan["domains"]["attendanceEngagement"]["facts"].append({"id": "f1", "rate": 0.9375, "count": 3})
    return plan


def test_a_plan_reads_back_as_written() -> None:
    plan = _plan("s1")
    held = PlanTexts({"s1": encode_plan(plan)})
    assert held["s1"] == plan
    assert json.loads(held.text_of("s1")) == plan


def test_each_read_is_its_own_copy() -> None:
    held = PlanTexts({"s1": encode_plan(_plan("s1"))})
    first = held["s1"]
    first["student"]["identifiers"].clear()
    assert held["s1"]["student"]["identifiers"], "a reader's change reached the held plan"


def test_membership_and_listing_do_not_decode() -> None:
    held = PlanTexts({"s1": "not json at all"})
    assert "s1" in held
    assert "s2" not in held
    assert list(held) == ["s1"]
    assert len(held) == 1
    with pytest.raises(orjson.JSONDecodeError):
        held["s1"]


@pytest.mark.parametrize("text", ["[]", '"plan"', "3", "null"])
def test_a_stored_value_that_is_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_plan(text)


def test_texts_pass_through_and_documents_are_encoded() -> None:
    plan = _plan("s1")
    text = encode_plan(plan)
    assert texts_of(PlanTexts({"s1": text}))["s1"] is text
    assert texts_of({"s1": plan}) == {"s1": text}


def test_the_text_is_what_the_column_writes() -> None:
    # storage/db.py serialises JSON columns with orjson, decoded to str
    plan = _plan("s1")
    assert encode_plan(plan) == orjson.dumps(plan).decode("utf-8")


def test_a_held_text_takes_the_memory_of_the_text() -> None:
    # orjson's bytes keep the buffer they grew in (several times their length); the held str must not.
    plan = _plan("s1")
    plan["needs"] = [{"id": f"n{i}", "text": "x" * 40} for i in range(100)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        text = encode_plan(plan)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(text) > 5000
    assert held < len(text) * 1.2
