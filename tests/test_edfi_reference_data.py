"""Ed-Fi reference data (issue 13): assessments, gradebook entries, interventions, sections,
schools, ... are kept in reference_records (idempotent, replaced when their body changes), not
rejected for lack of a mapping; descriptors are ignored with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from gateway.core.reference_data import build_reference_entities, ignored_reason, natural_key
from gateway.errors import ArtifactInvalid
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.reference_data import reference_body, reference_entities
from gateway.storage.tables import ReferenceRecordRow
from tests.helpers import count_rows

FIXTURES = Path(__file__).parent / "fixtures" / "edfi_xml"
SHAPES = yaml.safe_load((FIXTURES / "shapes.yaml").read_text("utf-8"))
ORG = "grand-bend-isd"
ASSESSMENT = {
    "assessmentIdentifier": "STAAR-ALG-1",
    "namespace": "uri://ed-fi.org/Assessment/Assessment.xml",
    "assessmentTitle": "STAAR Algebra I",
    "academicSubjects": [
        {"academicSubjectDescriptor": "uri://ed-fi.org/AcademicSubjectDescriptor#Mathematics"}
    ],
}


def send(rt, entity: str, body, org: str = ORG):  # type: ignore[no-untyped-def]
    payload = json.dumps(body).encode()
    return ingest(rt, Inbound(source_org=org, format_name="edfi-json", payload=payload, entity=entity))


def stored(rt) -> list[tuple[str, str, str, dict]]:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        rows = session.scalars(select(ReferenceRecordRow).order_by(ReferenceRecordRow.natural_key))
        return [(r.source_org, r.entity, r.natural_key, r.body) for r in rows]


def test_an_assessment_is_kept_as_reference_data(rt):
    summary = send(rt, "assessments", ASSESSMENT)
    assert (summary.status, summary.outcome["accepted"]) == ("mapped", 1)
    assert stored(rt) == [
        (ORG, "assessments", "STAAR-ALG-1|uri://ed-fi.org/Assessment/Assessment.xml", ASSESSMENT)
    ]


def test_sent_again_unchanged_changes_nothing_and_a_changed_body_replaces_it(rt, clock):
    send(rt, "assessments", ASSESSMENT)
    with rt.sessions() as session:
        first = session.scalars(select(ReferenceRecordRow)).one()
        first_message, first_time = first.message_id, first.updated_at
    clock.advance(seconds=60)
    again = send(rt, "assessments", ASSESSMENT)
    with rt.sessions() as session:
        row = session.scalars(select(ReferenceRecordRow)).one()
        assert (row.message_id, row.updated_at) == (first_message, first_time)
    changed = {**ASSESSMENT, "assessmentTitle": "STAAR Algebra I (2022)"}
    replaced = send(rt, "assessments", changed)
    assert again.status == replaced.status == "mapped"
    assert count_rows(rt, "reference_records") == 1
    with rt.sessions() as session:
        row = session.scalars(select(ReferenceRecordRow)).one()
        assert (row.body, row.message_id) == (changed, replaced.message_id)


def test_the_same_key_from_two_organizations_is_two_records(rt):
    send(rt, "assessments", ASSESSMENT)
    send(rt, "assessments", ASSESSMENT, org="riverside-health")
    assert sorted(org for org, *_ in stored(rt)) == ["grand-bend-isd", "riverside-health"]


def test_a_reference_record_without_its_key_is_rejected_naming_the_missing_paths(rt):
    summary = send(rt, "assessments", {"assessmentTitle": "no key"})
    assert summary.status == "rejected"
    [problem] = summary.outcome["records"]
    assert "lacks its natural key" in problem["reason"]
    assert [i["path"] for i in problem["issues"]] == ["$.assessmentIdentifier", "$.namespace"]
    assert count_rows(rt, "reference_records") == 0


def test_a_batch_of_reference_and_student_records_lands_together(rt):
    payload = [ASSESSMENT, {**ASSESSMENT, "assessmentIdentifier": "STAAR-BIO"}]
    summary = send(rt, "assessments", payload)
    assert summary.outcome["accepted"] == 2
    assert [key for *_, key, _ in stored(rt)] == [
        "STAAR-ALG-1|uri://ed-fi.org/Assessment/Assessment.xml",
        "STAAR-BIO|uri://ed-fi.org/Assessment/Assessment.xml",
    ]


def test_descriptors_are_ignored_with_the_reason(rt):
    body = {
        "codeValue": "Mathematics",
        "namespace": "uri://ed-fi.org/AcademicSubjectDescriptor",
        "shortDescription": "M",
    }
    summary = send(rt, "academicSubjectDescriptors", body)
    assert summary.status == "ignored"
    [record] = summary.outcome["records"]
    assert record["reason"].startswith("a descriptor defines a code")


def test_a_fact_can_find_the_assessment_it_names(rt):
    send(rt, "assessments", ASSESSMENT)
    named = {"assessmentIdentifier": "STAAR-ALG-1", "namespace": "uri://ed-fi.org/Assessment/Assessment.xml"}
    with rt.sessions() as session:
        found = reference_body(session, rt, ORG, "edfi-json", "assessments", named)
        unknown = reference_body(session, rt, ORG, "edfi-json", "assessments", {**named, "namespace": "x"})
    assert (found or {}).get("assessmentTitle") == "STAAR Algebra I"
    assert unknown is None


# --- Ed-Fi XML: every shape row of tests/fixtures/edfi_xml/shapes.yaml lands, is held, kept or ignored


@pytest.mark.parametrize("row", SHAPES, ids=[row["element"] for row in SHAPES])
def test_every_xml_record_type_lands_is_kept_or_ignored_never_rejected(rt, row):
    payload = f'<{row["interchange"]} xmlns="http://ed-fi.org/5.2.0">{row["xml"]}</{row["interchange"]}>'
    summary = ingest(rt, Inbound(source_org=ORG, format_name="edfi-xml", payload=payload.encode()))
    assert summary.outcome["records"] == [] or all(
        r["status"] in ("ignored", "held") or _for_its_values(r) for r in summary.outcome["records"]
    ), summary.outcome["records"]


def _for_its_values(problem: dict) -> bool:
    """A record may be refused for a value (a code no crosswalk knows: the fixture's made-up
    'Speech' service), never for having no mapping or for a key the conversion lost."""
    messages = [problem["reason"], *(i["message"] for i in problem.get("issues", []))]
    return not any("no mapping" in m or "key field is missing" in m or "natural key" in m for m in messages)


def test_assessment_metadata_interchange_is_kept_as_reference_data(rt):
    rows = [r for r in SHAPES if r["interchange"] == "InterchangeAssessmentMetadata"]
    body = "".join(r["xml"] for r in rows)
    payload = f'<InterchangeAssessmentMetadata xmlns="http://ed-fi.org/5.2.0">{body}</InterchangeAssessmentMetadata>'
    summary = ingest(rt, Inbound(source_org=ORG, format_name="edfi-xml", payload=payload.encode()))
    assert (summary.status, summary.outcome["accepted"]) == ("mapped", len(rows))
    assert sorted({entity for _, entity, *_ in stored(rt)}) == sorted({r["entity"] for r in rows})


# --- the table itself (pure)


def test_the_shipped_reference_table_is_valid(rt):
    entities = reference_entities(rt, "edfi-json")
    assert {"assessments", "objectiveAssessments", "gradebookEntries", "interventions", "sections"} <= set(
        entities
    )
    assert not set(entities) & {entity for _, entity in rt.artifacts.mappings}  # kept or mapped, never both


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"about": "x"}, "'to' needs 'key'"),
        ({"key": "$.a", "about": "x"}, "must be a list of paths"),
        ({"key": ["a.b"], "about": "x"}, "must start with '$'"),
        ({"key": ["$.a[0]"], "about": "x"}, "plain fields only"),
        ({"key": ["@.a"], "about": "x"}, "plain fields only"),
        ({"key": ["$.a"], "title": "$.t[*]", "about": "x"}, "plain fields only"),
        ({"key": ["$.a"], "about": "x", "named_by": {"rules": ["m#r"]}}, "must be a list"),
        ({"key": ["$.a"], "about": "x", "named_by": [{"key": ["$.a"]}]}, "needs 'rules'"),
        (
            {"key": ["$.a"], "about": "x", "named_by": [{"rules": ["m@1#r"], "key": ["$.a"]}]},
            "'<mapping id>#<rule id>'",
        ),
        (
            {"key": ["$.a"], "about": "x", "named_by": [{"rules": ["m#r"], "key": ["$.a", "$.b"]}]},
            "names 2 key",
        ),
        (
            {"key": ["$.a"], "about": "x", "named_by": [{"rules": ["m#r"], "key": ["a"]}]},
            "must start with '$'",
        ),
    ],
)
def test_a_bad_table_entry_is_reported_with_where_it_is(spec, message):
    with pytest.raises(ArtifactInvalid) as caught:
        build_reference_entities({"things": spec, "fine": {"key": ["$.id"], "about": "x"}}, "t.yaml")
    [issue] = caught.value.issues
    assert issue.path.startswith("t.yaml: entry 'things'")
    assert message in issue.message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"id": "A", "ref": {"n": 3}}, "A|3"),
        ({"id": "A"}, None),  # a missing key field
        ({"id": "", "ref": {"n": 3}}, None),  # an empty one
        ({"id": {"x": 1}, "ref": {"n": 3}}, None),  # an object is no key value
    ],
)
def test_natural_key_of_a_record(record, expected):
    [entity] = build_reference_entities({"things": {"key": ["$.id", "$.ref.n"], "about": "x"}}, "t").values()
    key, missing = natural_key(ORG, entity, record)
    assert (key.text if key else None) == expected
    assert bool(missing) == (expected is None)


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("disciplineIncidents", "exact"),
        ("academicSubjectDescriptors", "descriptor"),
        ("Descriptors", None),  # the suffix alone is no descriptor
        ("descriptorMappings", None),
        ("students", None),
    ],
)
def test_ignored_reason_takes_exact_keys_and_suffix_wildcards(entity, expected):
    table = {"edfi-json|disciplineIncidents": "exact", "edfi-json|*Descriptors": "descriptor"}
    assert ignored_reason(table, "edfi-json", entity) == expected
    assert ignored_reason(table, "fhir-json", entity) is None
