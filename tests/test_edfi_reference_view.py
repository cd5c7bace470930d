"""Plan reads show what a fact points at (issue 13): an element that names a reference record
kept from its own source organization (an assessment result its assessment, a gradebook grade
its entry, an intervention support its intervention, an enrollment its school) carries a
``reference`` with the record's title and key, joined when the plan is read, in one query,
only on elements the reader may see."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event

from gateway.core.plan import iter_elements
from gateway.core.reference_view import rule_of
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.reference_data import reference_entities
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from tests.conftest import PROJECT_ROOT
from tests.helpers import LISA, coordinator_view, send_demo

DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
SAMPLES = PROJECT_ROOT / "tests" / "samples" / "edfi"
ASSESSMENT_ID = "01774fa3-06f1-47fe-8801-c8b1e65057f2"
ASSESSMENT_NS = "uri://ed-fi.org/Assessment/Assessment.xml"
GRADEBOOK_NS = "uri://grandbend.example.org/GradebookEntry"
LISA_REF = {"studentUniqueId": "604822"}


def sample(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))["record"]
    return record


# (reference resource, its record, the student record naming it as (entity, body),
#  the title a read shows, the key it shows)
CASES = [
    pytest.param(
        "assessments",
        {
            "assessmentIdentifier": ASSESSMENT_ID,
            "namespace": ASSESSMENT_NS,
            "assessmentTitle": "Grade 3 Reading",
        },
        ("studentAssessments", sample("student-assessments")),
        "Grade 3 Reading",
        {"assessmentIdentifier": ASSESSMENT_ID, "namespace": ASSESSMENT_NS},
        id="assessment",
    ),
    pytest.param(
        "gradebookEntries",
        {
            "gradebookEntryIdentifier": "ALG-1-HW-07",
            "namespace": GRADEBOOK_NS,
            "title": "Homework 7: linear equations",
            "sourceSectionIdentifier": "ALG1-03",
            "dateAssigned": "2021-09-27",
        },
        ("studentGradebookEntries", sample("student-gradebook-entries")),
        "Homework 7: linear equations",
        {"gradebookEntryIdentifier": "ALG-1-HW-07", "namespace": GRADEBOOK_NS},
        id="gradebook-entry",
    ),
    pytest.param(
        "gradebookEntries",
        {
            "gradebookEntryIdentifier": "ALG-1-HW-07",
            "namespace": GRADEBOOK_NS,
            "sourceSectionIdentifier": "ALG1-03",
        },
        ("studentGradebookEntries", sample("student-gradebook-entries")),
        "ALG1-03",
        {"gradebookEntryIdentifier": "ALG-1-HW-07", "namespace": GRADEBOOK_NS},
        id="gradebook-entry-without-title",
    ),
    pytest.param(
        "interventions",
        {
            "interventionIdentificationCode": "Math Tutoring Tier 2",
            "educationOrganizationReference": {"educationOrganizationId": 255901},
            "interventionClassDescriptor": "uri://ed-fi.org/InterventionClassDescriptor#Instruction",
            "deliveryMethodDescriptor": "uri://ed-fi.org/DeliveryMethodDescriptor#Small group",
            "beginDate": "2021-08-23",
        },
        ("studentInterventionAssociations", sample("student-intervention-associations")),
        "Math Tutoring Tier 2",
        {"interventionIdentificationCode": "Math Tutoring Tier 2", "educationOrganizationId": 255901},
        id="intervention",
    ),
    pytest.param(
        "schools",
        {"schoolId": 255901001, "nameOfInstitution": "Grand Bend High School"},
        (
            "studentSchoolAssociations",
            {**sample("student-school-associations"), "studentReference": LISA_REF},
        ),
        "Grand Bend High School",
        {"schoolId": 255901001},
        id="school",
    ),
]


def send(rt: Runtime, entity: str, body: Any, org: str = DISTRICT) -> None:
    summary = ingest(
        rt, Inbound(source_org=org, format_name="edfi-json", payload=json.dumps(body).encode(), entity=entity)
    )
    assert summary.status == "mapped", summary.outcome


def naming(rt: Runtime, resource: str, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's elements made by a rule the table says names ``resource``."""
    rules = {r for named in reference_entities(rt, "edfi-json")[resource].named_by for r in named.rules}
    return [e for _, e in iter_elements(plan) if rule_of(e["provenance"]["mapping"]) in rules]


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    # Her school record, the clinic's patient record and screening, her mother's link (who signed).
    for prefix in ("01", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


@pytest.mark.parametrize("reference_first", [True, False], ids=["reference-first", "fact-first"])
@pytest.mark.parametrize(("resource", "record", "fact", "title", "key"), CASES)
def test_a_known_reference_shows_its_title_on_the_elements_naming_it(
    lisa, resource, record, fact, title, key, reference_first
):
    steps = [lambda: send(lisa, resource, record), lambda: send(lisa, *fact)]
    for step in steps if reference_first else reversed(steps):
        step()
    plan = coordinator_view(lisa)
    named = naming(lisa, resource, plan)
    assert named, "the student record made no element naming the reference"
    assert all(e["reference"] == {"resource": resource, "title": title, "key": key} for e in named)
    others = [e for _, e in iter_elements(plan) if e not in named]
    assert not any("reference" in e for e in others)


@pytest.mark.parametrize(("resource", "record", "fact", "title", "key"), CASES)
def test_the_read_answer_with_references_satisfies_the_plan_schema(lisa, resource, record, fact, title, key):
    send(lisa, resource, record)
    send(lisa, *fact)
    plan = coordinator_view(lisa)
    assert naming(lisa, resource, plan)[0]["reference"]["title"] == title
    errors = [f"{e.json_path}: {e.message}" for e in lisa.artifacts.plan_validator.iter_errors(plan)]
    assert errors == []


@pytest.mark.parametrize(("resource", "record", "fact", "title", "key"), CASES)
def test_an_unknown_reference_adds_nothing(lisa, resource, record, fact, title, key):
    other_key = {**record, next(iter(key)): "SOMETHING-ELSE"}
    send(lisa, resource, other_key)
    send(lisa, *fact)
    named = naming(lisa, resource, coordinator_view(lisa))
    assert named
    assert not any("reference" in e for e in named)


@pytest.mark.parametrize(("resource", "record", "fact", "title", "key"), CASES)
def test_a_reference_from_another_organization_is_not_used(lisa, resource, record, fact, title, key):
    send(lisa, resource, record, org=CLINIC)  # same key, another partner's record
    send(lisa, *fact)
    named = naming(lisa, resource, coordinator_view(lisa))
    assert named
    assert not any("reference" in e for e in named)


def test_a_changed_reference_shows_its_new_title(lisa):
    _, record, fact, _, _ = CASES[0].values
    send(lisa, "assessments", record)
    send(lisa, *fact)
    send(lisa, "assessments", {**record, "assessmentTitle": "Grade 3 Reading (2022 form)"})
    titles = {e["reference"]["title"] for e in naming(lisa, "assessments", coordinator_view(lisa))}
    assert titles == {"Grade 3 Reading (2022 form)"}


# Readers who see parts of Lisa's plan, but not the district's academic records and supports.
READERS = [
    pytest.param(CLINIC, "clinician", "treatment", id="clinic-own-records-only"),
    pytest.param(FOOD_BANK, "case-worker", "referral-fulfillment", id="food-bank-identity-only"),
]


@pytest.mark.parametrize(("org", "role", "purpose"), READERS)
@pytest.mark.parametrize(("resource", "record", "fact", "title", "key"), CASES)
def test_a_reader_denied_the_fact_sees_neither_it_nor_its_reference(
    lisa, resource, record, fact, title, key, org, role, purpose
):
    send(lisa, resource, record)
    send(lisa, *fact)
    request = ReadRequest(student_id=LISA, organization_id=org, actor="t", role=role, purpose=purpose)
    plan = read_plan(lisa, request).plan
    assert list(iter_elements(plan))  # the reader sees something of the plan ...
    assert naming(lisa, resource, plan) == []
    assert not any("reference" in e for _, e in iter_elements(plan))
    assert title not in json.dumps(plan)


def test_references_are_found_in_one_query_for_the_whole_plan(lisa):
    for _, _, fact, _, _ in (case.values for case in CASES):
        send(lisa, *fact)
    for resource, record, *_ in (case.values for case in CASES):
        send(lisa, resource, record)
    queries: list[str] = []

    def seen(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "reference_records" in statement:
            queries.append(statement)

    event.listen(lisa.engine, "before_cursor_execute", seen)
    try:
        plan = coordinator_view(lisa)
    finally:
        event.remove(lisa.engine, "before_cursor_execute", seen)
    shown = [e for _, e in iter_elements(plan) if "reference" in e]
    assert len(shown) >= len(CASES) - 1  # the two gradebook cases share one entry
    assert len(queries) == 1


def test_every_rule_the_table_names_is_a_mapping_rule(rt):
    rules = {f"{m.id}#{rule.id}" for m in rt.artifacts.mappings.values() for rule in m.rules}
    named = {r for e in reference_entities(rt, "edfi-json").values() for n in e.named_by for r in n.rules}
    assert named
    assert named <= rules, sorted(named - rules)
