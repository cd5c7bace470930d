"""The canonical plan: a new plan is schema-valid, and merging elements is an idempotent
upsert by element id that ignores when and in which message a fact arrived."""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from gateway.core.ids import derive_id, student_id_for
from gateway.core.mapping import PlanElement
from gateway.core.mapping_model import SLOTS
from gateway.core.plan import empty_plan, iter_elements, merge_elements, plan_id_for, without_elements

ROOT = pathlib.Path(__file__).resolve().parent.parent
VALIDATOR = Draft202012Validator(
    json.loads((ROOT / "schemas" / "success-plan.schema.json").read_text("utf-8")),
    format_checker=FormatChecker(),
)
STUDENT = student_id_for("https://grandbend.example.org/ns/studentUniqueId", "604822")


def element(
    seed: str,
    body: dict[str, Any],
    *,
    message: str = "msg-1",
    at: str = "2026-11-23T12:00:00Z",
    digest: str = "ab",
) -> dict[str, Any]:
    return {
        "id": derive_id("el", seed),
        **body,
        "provenance": {
            "sourceOrganization": "riverside-health",
            "sourceSystem": "FHIR R4",
            "sourceFormat": "fhir-json",
            "sourceRecord": {"type": "Observation", "id": seed, "digest": "sha256:" + digest * 32},
            "mapping": "fhir.observation@1#need",
            "messageId": message,
            "receivedAt": at,
        },
        "labels": {"regime": "HIPAA", "sensitivity": "restricted", "category": "sdoh-screening"},
    }


NEED = {
    "domain": "familyBasicNeeds",
    "code": {"system": "http://snomed.info/sct", "code": "733423003"},
    "status": "active",
}

E: dict[str, PlanElement] = {
    "need-a": PlanElement(slot="needs", element=element("a", NEED)),
    "need-a-resent": PlanElement(
        slot="needs", element=element("a", NEED, message="msg-2", at="2026-12-01T08:00:00Z")
    ),
    "need-a-resolved": PlanElement(
        slot="needs", element=element("a", {**NEED, "status": "resolved"}, message="msg-3")
    ),
    "need-a-new-digest": PlanElement(slot="needs", element=element("a", NEED, digest="cd")),
    "need-b": PlanElement(slot="needs", element=element("b", NEED)),
    "need-c": PlanElement(slot="needs", element=element("c", NEED)),
    "name": PlanElement(slot="student.name", element=element("name", {"given": "Ana", "family": "Lopez"})),
    "name-resent": PlanElement(
        slot="student.name", element=element("name", {"given": "Ana", "family": "Lopez"}, message="msg-9")
    ),
    "name-married": PlanElement(
        slot="student.name", element=element("name-2", {"given": "Ana", "family": "Lopez Ruiz"})
    ),
    "identifier": PlanElement(
        slot="student.identifiers", element=element("id", {"system": "urn:sid", "value": "604822"})
    ),
    "fact": PlanElement(
        slot="domains.familyBasicNeeds.facts",
        element=element(
            "fact", {"code": {"system": "http://loinc.org", "code": "88124-3"}, "value": "At risk"}
        ),
    ),
}


def names_of(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """The plan's (slot, element name) pairs, naming each element by its entry in ``E``."""
    by_content = {json.dumps(item.element, sort_keys=True): name for name, item in E.items()}
    return [(slot, by_content[json.dumps(el, sort_keys=True)]) for slot, el in iter_elements(plan)]


def test_empty_plan_is_schema_valid() -> None:
    plan = empty_plan(STUDENT)
    assert [e.message for e in VALIDATOR.iter_errors(plan)] == []
    assert plan["planId"] == plan_id_for(STUDENT)
    assert plan["student"]["id"] == STUDENT
    assert list(iter_elements(plan)) == []


def test_plan_id_is_derived_from_the_student() -> None:
    other = student_id_for("https://grandbend.example.org/ns/studentUniqueId", "604823")
    assert plan_id_for(STUDENT) == plan_id_for(STUDENT)
    assert plan_id_for(STUDENT) != plan_id_for(other)


@pytest.mark.parametrize(
    ("before", "incoming", "changed", "after"),
    [
        # collections
        pytest.param([], ["need-a"], ["need-a"], [("needs", "need-a")], id="a new element is added"),
        pytest.param(
            ["need-a"], ["need-a"], [], [("needs", "need-a")], id="same content twice changes nothing"
        ),
        pytest.param(
            ["need-a"],
            ["need-a-resent"],
            [],
            [("needs", "need-a")],
            id="same content in a later message changes nothing and keeps the first provenance",
        ),
        pytest.param(
            ["need-a"],
            ["need-a-resolved"],
            ["need-a-resolved"],
            [("needs", "need-a-resolved")],
            id="changed content replaces the element",
        ),
        pytest.param(
            ["need-a"],
            ["need-a-new-digest"],
            ["need-a-new-digest"],
            [("needs", "need-a-new-digest")],
            id="a changed source record digest is a change",
        ),
        pytest.param(
            [],
            ["need-a", "need-a"],
            ["need-a"],
            [("needs", "need-a")],
            id="duplicate in one batch is added once",
        ),
        pytest.param(
            ["need-b"],
            ["need-c", "need-a"],
            ["need-c", "need-a"],
            [("needs", n) for n in sorted(["need-a", "need-b", "need-c"], key=lambda n: E[n].element["id"])],
            id="collections are kept sorted by id",
        ),
        # single slots
        pytest.param([], ["name"], ["name"], [("student.name", "name")], id="a single slot is filled"),
        pytest.param(
            ["name"],
            ["name-resent"],
            [],
            [("student.name", "name")],
            id="same single value again changes nothing",
        ),
        pytest.param(
            ["name"],
            ["name-married"],
            ["name-married"],
            [("student.name", "name-married")],
            id="a single slot is replaced, whatever the element id",
        ),
        # slots do not interfere
        pytest.param(
            ["name", "need-a"],
            ["identifier", "fact"],
            ["identifier", "fact"],
            [
                ("student.name", "name"),
                ("student.identifiers", "identifier"),
                ("domains.familyBasicNeeds.facts", "fact"),
                ("needs", "need-a"),
            ],
            id="elements of other slots are left alone",
        ),
    ],
)
def test_merge(
    before: list[str], incoming: list[str], changed: list[str], after: list[tuple[str, str]]
) -> None:
    plan = merge_elements(empty_plan(STUDENT), [E[n] for n in before]).plan
    outcome = merge_elements(plan, [E[n] for n in incoming])
    assert list(outcome.changed) == [E[n].element["id"] for n in changed]
    assert names_of(outcome.plan) == after
    assert [e.message for e in VALIDATOR.iter_errors(outcome.plan)] == []
    if not changed:
        assert outcome.plan == plan


def test_merge_sorts_collections_by_id() -> None:
    elements = [PlanElement(slot="needs", element=element(seed, NEED)) for seed in "qwertyuiop"]
    plan = merge_elements(empty_plan(STUDENT), elements).plan
    ids = [e["id"] for e in plan["needs"]]
    assert ids == sorted(ids)
    assert len(ids) == 10


def test_merge_does_not_change_the_plan_it_was_given() -> None:
    plan = merge_elements(empty_plan(STUDENT), [E["need-a"], E["name"]]).plan
    snapshot = copy.deepcopy(plan)
    merge_elements(plan, [E["need-a-resolved"], E["name-married"], E["fact"]])
    assert plan == snapshot


def _one_element_per_slot() -> list[PlanElement]:
    return [PlanElement(slot=slot, element=element(slot, {"summary": slot})) for slot in sorted(SLOTS)]


def test_iter_elements_covers_every_slot() -> None:
    plan = merge_elements(empty_plan(STUDENT), _one_element_per_slot()).plan
    found = list(iter_elements(plan))
    assert sorted(slot for slot, _ in found) == sorted(SLOTS)
    assert all(el["summary"] == slot for slot, el in found)


def test_iter_elements_order_is_stable() -> None:
    forward = merge_elements(empty_plan(STUDENT), _one_element_per_slot()).plan
    backward = merge_elements(empty_plan(STUDENT), list(reversed(_one_element_per_slot()))).plan
    assert [s for s, _ in iter_elements(forward)] == [s for s, _ in iter_elements(backward)]


@pytest.mark.parametrize("hidden_slot", sorted(SLOTS))
def test_without_elements_removes_exactly_the_hidden_element(hidden_slot: str) -> None:
    plan = merge_elements(empty_plan(STUDENT), _one_element_per_slot()).plan
    snapshot = copy.deepcopy(plan)
    hidden = {el["id"] for slot, el in iter_elements(plan) if slot == hidden_slot}
    shown = without_elements(plan, hidden)
    assert sorted(slot for slot, _ in iter_elements(shown)) == sorted(SLOTS - {hidden_slot})
    assert plan == snapshot


def _support(status: str, service: str | None, regime: str = "HIPAA", source: str = "sr-1") -> dict:
    element = {
        "id": "el-support-1",
        "referralStatus": status,
        "provenance": {"sourceOrganization": "clinic", "sourceRecord": {"type": "X", "id": source}},
        "labels": {"regime": regime, "sensitivity": "restricted", "category": "referral"},
    }
    if service is not None:
        element["service"] = service
    return element


def test_a_partial_update_replaces_only_its_named_fields():
    plan = merge_elements(
        empty_plan("stu-1"), [PlanElement(slot="supports", element=_support("requested", "pantry"))]
    ).plan
    task = PlanElement(
        slot="supports",
        element=_support("accepted", "fulfill", regime="42CFRPart2", source="task-1"),
        update_fields=("referralStatus", "end"),
    )
    outcome = merge_elements(plan, [task])
    (support,) = outcome.plan["supports"]
    assert outcome.changed == ("el-support-1",)
    assert support["referralStatus"] == "accepted"
    assert support["service"] == "pantry"  # not a named field: the support keeps its own
    assert "end" not in support  # named, but the update does not carry it
    assert support["provenance"]["sourceRecord"]["id"] == "task-1"
    assert support["labels"]["regime"] == "42CFRPart2"  # the stricter of the two


def test_a_partial_update_with_nothing_to_update_yet_lands_whole():
    task = PlanElement(
        slot="supports", element=_support("accepted", "fulfill"), update_fields=("referralStatus",)
    )
    (support,) = merge_elements(empty_plan("stu-1"), [task]).plan["supports"]
    assert support["service"] == "fulfill"
