"""core.batch as tables: a batch of records and a snapshot in, outcomes and writes out, no I/O.

The rules are the shipped artifacts (real mappings, codes and element schemas); the inbound
decision is a table of permitted categories, so each case says what the agreement allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest

from gateway.artifacts.loading import load_artifacts
from gateway.core import batch, batch_settle
from gateway.core.attendance import ABSENCE_CATEGORIES, is_derived
from gateway.core.identity import authority_of, student_id_for
from gateway.core.outcomes import ACCEPTED, FAILED, HELD, IGNORED, REJECTED
from gateway.core.policy import Decision
from gateway.core.reference_data import IGNORED_RECORDS
from gateway.formats.records import SourceRecord

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DISTRICT = "https://grandbend.example.org/ns/studentUniqueId"
PARTNER = {
    "id": "grand-bend-isd",
    "identifier_systems": {"student-id": DISTRICT},
    "identity_authority": {"sources": ["edfi"]},
}
EVERYTHING = frozenset(
    {"identity", "enrollment", "attendance", "academic", "demographics", "contact", "program"}
)


@pytest.fixture(scope="module")
def artifacts() -> Any:
    return load_artifacts()


def decide_from(permitted: frozenset[str]) -> Any:
    def decide(categories: frozenset[str]) -> Decision:
        allowed = categories <= permitted
        return Decision(
            effect="permit" if allowed else "deny",
            basis=(),
            obligations=(),
            matched_rules=(),
            reasons=() if allowed else (f"no agreement covers {', '.join(sorted(categories - permitted))}",),
            policy_version="test",
            decision_id="d-" + "-".join(sorted(categories)),
        )

    return decide


def rules(artifacts: Any, permitted: frozenset[str] = EVERYTHING, validators: Any = None) -> batch.Rules:
    codes = artifacts.codes
    return batch.Rules(
        mapping_for=artifacts.mapping_for,
        codes=codes,
        element_validators=validators or artifacts.element_validators,
        decide=decide_from(permitted),
        ignored=codes.get(IGNORED_RECORDS, {}),
        absence_categories=codes.get(ABSENCE_CATEGORIES, {}),
    )


def sender(fmt: str = "edfi-json") -> batch.Sender:
    return batch.Sender(
        source_org="grand-bend-isd",
        message_id="m-1",
        format=fmt,
        family=fmt,
        received_at="2026-11-23T12:00:00Z",
        identifier_systems=PARTNER["identifier_systems"],
        authority=authority_of(PARTNER),
    )


def rec(entity: str, data: dict[str, Any], n: int) -> SourceRecord:
    raw = json.dumps(data, sort_keys=True).encode()
    return SourceRecord(
        entity=entity, location=f"$[{n}]", data=data, digest="sha256:" + hashlib.sha256(raw).hexdigest()
    )


def student(uid: str) -> dict[str, Any]:
    return {"studentUniqueId": uid, "firstName": "Ana", "lastSurname": "Ruiz", "birthDate": "2012-04-01"}


def enrolment(uid: str) -> dict[str, Any]:
    return {
        "studentReference": {"studentUniqueId": uid},
        "schoolReference": {"schoolId": 255901001},
        "entryDate": "2026-08-24",
        "entryGradeLevelDescriptor": "uri://ed-fi.org/GradeLevelDescriptor#Sixth grade",
    }


UNEXCUSED = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Unexcused Absence"


def absence(uid: str, day: str) -> dict[str, Any]:
    return {
        "studentReference": {"studentUniqueId": uid},
        "schoolReference": {"schoolId": 255901001},
        "eventDate": day,
        "attendanceEventCategoryDescriptor": UNEXCUSED,
    }


EMPTY = batch.Snapshot(links={}, plans={}, event_keys={})


def run(
    records: list[SourceRecord], artifacts: Any, snapshot: batch.Snapshot = EMPTY, **kw: Any
) -> batch.BatchResult:
    r = rules(artifacts, **kw)
    prepared = batch.prepare(records, sender(), r)
    return batch_settle.settle(prepared, snapshot, sender(), r, NOW)


def linked(uid: str) -> dict[tuple[str, str], str]:
    return {(DISTRICT, uid): student_id_for(DISTRICT, uid)}


@pytest.mark.parametrize(
    ("entity", "data", "snapshot_links", "permitted", "status", "reason_part"),
    [
        ("students", student("1001"), {}, EVERYTHING, ACCEPTED, ""),
        ("studentSchoolAssociations", enrolment("1001"), linked("1001"), EVERYTHING, ACCEPTED, ""),
        ("studentSchoolAssociations", enrolment("1001"), {}, EVERYTHING, HELD, ""),
        (
            "noSuchEntity",
            {"id": "x"},
            {},
            EVERYTHING,
            REJECTED,
            "no mapping for edfi-json entity 'noSuchEntity'",
        ),
        ("students", student("1001"), {}, frozenset(), REJECTED, "denied by policy"),
        ("students", {"firstName": "no id"}, {}, EVERYTHING, REJECTED, ""),
    ],
    ids=[
        "creates-student",
        "linked-enrolment",
        "unknown-student-held",
        "no-mapping",
        "denied",
        "mapping-failed",
    ],
)
def test_one_record_outcome(artifacts, entity, data, snapshot_links, permitted, status, reason_part):
    snapshot = batch.Snapshot(links=snapshot_links, plans={}, event_keys={})
    result = run([rec(entity, data, 0)], artifacts, snapshot, permitted=permitted)
    (outcome,) = result.outcomes
    assert outcome.status == status, outcome
    assert reason_part in outcome.reason
    if status == ACCEPTED:
        assert outcome.student_id == student_id_for(DISTRICT, "1001")
        assert outcome.changed > 0
        assert set(result.writes.plans) == {outcome.student_id}
        assert result.writes.sources
        assert result.writes.sources[0][3] == outcome.student_id
    else:
        assert outcome.student_id is None
        assert not result.writes.plans
        assert not result.writes.sources
        assert not result.writes.students


def test_ignored_record_is_neither_mapped_nor_written(artifacts):
    r = rules(artifacts)
    fhir = batch.Sender(**{**sender().__dict__, "format": "fhir-json", "family": "fhir-json"})
    prepared = batch.prepare([rec("Questionnaire", {"resourceType": "Questionnaire"}, 0)], fhir, r)
    result = batch_settle.settle(prepared, EMPTY, fhir, r, NOW)
    assert [o.status for o in result.outcomes] == [IGNORED]
    assert "defines a form" in result.outcomes[0].reason
    assert result.writes == batch.BatchWrites()


def test_student_linked_mid_batch_lands_later_records_of_that_student(artifacts):
    records = [rec("studentSchoolAssociations", enrolment("2002"), 0), rec("students", student("2002"), 1)]
    records.append(rec("studentSchoolAssociations", enrolment("2002"), 2))
    result = run(records, artifacts)
    sid = student_id_for(DISTRICT, "2002")
    # the first enrolment came before its student was known: held; the one after lands
    assert [o.status for o in result.outcomes] == [HELD, ACCEPTED, ACCEPTED]
    assert result.writes.students == (sid,)
    assert (DISTRICT, "2002", sid) in result.writes.links
    plan = result.writes.plans[sid]
    assert plan["student"]["enrollments"]
    assert plan["student"]["name"]


def test_a_plan_section_written_by_two_record_kinds_is_written_once(artifacts):
    sid = student_id_for(DISTRICT, "3003")
    result = run(
        [rec("students", student("3003"), 0), rec("studentSchoolAssociations", enrolment("3003"), 1)],
        artifacts,
    )
    assert list(result.writes.plans) == [sid]
    student_section = result.writes.plans[sid]["student"]
    assert "name" in student_section
    assert student_section["enrollments"]
    assert all(o.changed for o in result.outcomes)


def test_mixed_batch_keeps_every_outcome_in_record_order(artifacts):
    records = [
        rec("students", student("4004"), 0),
        rec("noSuchEntity", {}, 1),
        rec("studentSchoolAssociations", enrolment("9999"), 2),
        rec("studentSchoolAssociations", enrolment("4004"), 3),
    ]
    result = run(records, artifacts)
    assert [o.status for o in result.outcomes] == [ACCEPTED, REJECTED, HELD, ACCEPTED]
    assert [o.location for o in result.outcomes] == ["$[0]", "$[1]", "$[2]", "$[3]"]


def test_attendance_event_is_a_row_and_the_summary_lands_in_the_same_plan_write(artifacts):
    uid = "5005"
    sid = student_id_for(DISTRICT, uid)
    first = run(
        [rec("students", student(uid), 0), rec("studentSchoolAssociations", enrolment(uid), 1)], artifacts
    )
    snapshot = batch.Snapshot(links=linked(uid), plans=first.writes.plans, event_keys={})
    result = run([rec("studentSchoolAttendanceEvents", absence(uid, "2026-09-01"), 0)], artifacts, snapshot)
    (outcome,) = result.outcomes
    assert outcome.status == ACCEPTED
    (row,) = result.writes.events
    assert (row["student_id"], row["event_date"]) == (sid, "2026-09-01")
    assert result.writes.derived_students == (sid,)
    assert result.writes.derived_changed > 0
    facts = result.writes.plans[sid]["domains"]["attendanceEngagement"]["facts"]
    assert any(is_derived(f) for f in facts)  # the summary, written with the plan, not afterwards
    assert outcome.changed == 1 + result.writes.derived_changed


def test_a_resent_event_writes_no_row(artifacts):
    uid = "6006"
    first = run(
        [rec("students", student(uid), 0), rec("studentSchoolAssociations", enrolment(uid), 1)], artifacts
    )
    snapshot = batch.Snapshot(links=linked(uid), plans=first.writes.plans, event_keys={})
    sent = run([rec("studentSchoolAttendanceEvents", absence(uid, "2026-09-02"), 0)], artifacts, snapshot)
    (row,) = sent.writes.events
    again = batch.Snapshot(
        links=linked(uid), plans=sent.writes.plans, event_keys={row["element_id"]: row["content_key"]}
    )
    resent = run([rec("studentSchoolAttendanceEvents", absence(uid, "2026-09-02"), 0)], artifacts, again)
    assert resent.outcomes[0].status == ACCEPTED
    assert resent.writes.events == ()


class _Refuses:
    """An element schema that refuses everything (a mapping bug the schema catches)."""

    class _Error:
        instance_path = ("name",)
        kind = object()

    def iter_errors(self, _element: Any) -> Any:
        yield self._Error()


def test_an_element_the_schema_refuses_fails_its_record_and_writes_no_plan(artifacts):
    validators = {slot: _Refuses() for slot in artifacts.element_validators}
    result = run([rec("students", student("7007"), 0)], artifacts, validators=validators)
    (outcome,) = result.outcomes
    assert outcome.status == FAILED
    assert "does not validate against the Success Plan schema" in outcome.reason
    assert outcome.issues
    assert all("Ana" not in i.message for i in outcome.issues)
    assert not result.writes.plans


def test_prepare_names_what_to_load(artifacts):
    records = [
        rec("students", student("8008"), 0),
        rec("studentSchoolAttendanceEvents", absence("8008", "2026-09-03"), 1),
    ]
    prepared = batch.prepare(records, sender(), rules(artifacts))
    assert (DISTRICT, "8008") in prepared.identifiers()
    assert prepared.attendance_identifiers() == {(DISTRICT, "8008")}
    assert len(prepared.event_ids()) == 1
