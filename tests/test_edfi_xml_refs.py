"""Ed-Fi XML references given by ``ref=`` (an IDREF to an earlier record of the interchange) get
that record's identity, so nested reference keys (``disciplineIncidentReference.schoolId``)
reach the API JSON and the mapping's key (issue 13: the behavior association was refused with
"record key field missing: disciplineIncidentReference.schoolId")."""

from __future__ import annotations

import io

import pytest

from gateway.formats.edfi_xml import iter_records
from gateway.formats.records import SourceRecord
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from tests.helpers import LISA, coordinator_view

NS = "http://ed-fi.org/5.2.0"
STUDENT = (
    "<StudentReference><StudentIdentity><StudentUniqueId>604822</StudentUniqueId></StudentIdentity>"
    "</StudentReference>"
)
SCHOOL = "<SchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId></SchoolIdentity></SchoolReference>"
BEHAVIOR = "<Behavior>uri://ed-fi.org/BehaviorDescriptor#School Code of Conduct</Behavior>"
PERPETRATOR = (
    "<DisciplineIncidentParticipationCode>uri://ed-fi.org/DisciplineIncidentParticipationCodeDescriptor#Perpetrator"
    "</DisciplineIncidentParticipationCode>"
)
KEYS = {"incidentIdentifier": "INC-7", "schoolId": 255901001}


def incident(record_id: str = "DI-1", school: str = SCHOOL) -> str:
    return (
        f"<DisciplineIncident id='{record_id}'><IncidentIdentifier>INC-7</IncidentIdentifier>"
        f"<IncidentDate>2021-10-04</IncidentDate>{school}</DisciplineIncident>"
    )


def association(reference: str, record_id: str = "") -> str:
    attribute = f" id='{record_id}'" if record_id else ""
    return (
        f"<StudentDisciplineIncidentBehaviorAssociation{attribute}>{STUDENT}{reference}{BEHAVIOR}{PERPETRATOR}"
        "</StudentDisciplineIncidentBehaviorAssociation>"
    )


def discipline(body: str, namespace: str = NS) -> bytes:
    return f'<InterchangeStudentDiscipline xmlns="{namespace}">{body}</InterchangeStudentDiscipline>'.encode()


def records(payload: bytes) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for item in iter_records(io.BytesIO(payload)):
        assert isinstance(item, SourceRecord), item
        found.setdefault(item.entity, []).append(item.data)
    return found


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a ref to an earlier record of the interchange: its identity fills the reference
        (incident() + association("<DisciplineIncidentReference ref='DI-1'/>"), KEYS),
        # the identity given in full: unchanged
        (
            association(
                f"<DisciplineIncidentReference><DisciplineIncidentIdentity><IncidentIdentifier>INC-7"
                f"</IncidentIdentifier>{SCHOOL}</DisciplineIncidentIdentity></DisciplineIncidentReference>"
            ),
            KEYS,
        ),
        # a nested reference of an identity given by ref= (the school of the incident)
        (
            "<DisciplineIncident id='DI-2'><IncidentIdentifier>INC-9</IncidentIdentifier>"
            f"<IncidentDate>2021-10-04</IncidentDate>{SCHOOL}</DisciplineIncident>"
            + association("<DisciplineIncidentReference ref='DI-2'/>"),
            {"incidentIdentifier": "INC-9", "schoolId": 255901001},
        ),
        # the referenced record's school was itself given by a ref= this file cannot resolve
        (
            incident("DI-3", "<SchoolReference ref='SCH'/>")
            + association("<DisciplineIncidentReference ref='DI-3'/>"),
            {"incidentIdentifier": "INC-7"},
        ),
        # a ref to a later record (streamed: not known yet) or to no record: left out, as before
        (association("<DisciplineIncidentReference ref='DI-1'/>") + incident(), None),
        (association("<DisciplineIncidentReference ref='NOPE'/>"), None),
    ],
    ids=["earlier-record", "identity-given", "other-id", "unresolved-school", "later-record", "no-record"],
)
def test_ref_only_reference_gets_the_identity_of_the_record_it_points_at(body, expected):
    found = records(discipline(body))
    [behavior] = found["studentDisciplineIncidentBehaviorAssociations"]
    assert behavior.get("disciplineIncidentReference") == expected


def test_ds6_documents_complete_references_too():
    body = incident() + association("<DisciplineIncidentReference ref='DI-1'/>")
    found = records(discipline(body, "http://ed-fi.org/6.1.0"))
    assert found["studentDisciplineIncidentBehaviorAssociations"][0]["disciplineIncidentReference"] == KEYS


def test_a_ref_to_a_record_of_another_identity_type_is_not_taken():
    """A StudentDisciplineIncidentBehaviorAssociation id does not stand for a discipline incident."""
    body = association("<DisciplineIncidentReference ref='DI-1'/>", record_id="SDIBA-1") + association(
        "<DisciplineIncidentReference ref='SDIBA-1'/>"
    )
    found = records(discipline(body))
    assert [
        b.get("disciplineIncidentReference") for b in found["studentDisciplineIncidentBehaviorAssociations"]
    ] == [
        None,
        None,
    ]


def test_references_to_a_completed_record_carry_its_completed_identity():
    """A discipline action points at a behavior association by ref=, which pointed at its incident by ref=."""
    action = (
        "<DisciplineAction><DisciplineActionIdentifier>DA-7</DisciplineActionIdentifier>"
        "<Discipline>uri://ed-fi.org/DisciplineDescriptor#In School Suspension</Discipline>"
        f"<DisciplineDate>2021-10-05</DisciplineDate>{STUDENT}"
        "<ResponsibilitySchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId></SchoolIdentity>"
        "</ResponsibilitySchoolReference>"
        "<StudentDisciplineIncidentBehaviorAssociationReference ref='SDIBA-1'/></DisciplineAction>"
    )
    body = incident() + association("<DisciplineIncidentReference ref='DI-1'/>", record_id="SDIBA-1") + action
    [found] = records(discipline(body))["disciplineActions"]
    assert found["studentDisciplineIncidentBehaviorAssociations"] == [
        {
            "studentDisciplineIncidentBehaviorAssociationReference": {
                "studentUniqueId": "604822",
                **KEYS,
                "behaviorDescriptor": "uri://ed-fi.org/BehaviorDescriptor#School Code of Conduct",
            }
        }
    ]


def test_behavior_given_by_ref_lands_in_the_plan(rt):
    """End to end: before the fix it was rejected for its key (disciplineIncidentReference.schoolId)."""
    ingest(rt, Inbound(source_org="grand-bend-isd", format_name="edfi-xml", payload=_students()))
    body = incident() + association("<DisciplineIncidentReference ref='DI-1'/>")
    summary = ingest(
        rt, Inbound(source_org="grand-bend-isd", format_name="edfi-xml", payload=discipline(body))
    )
    assert [r["status"] for r in summary.outcome["records"]] == ["ignored"]  # the incident names no student
    assert summary.outcome["accepted"] == 1
    facts = coordinator_view(rt, LISA)["domains"]["socialEmotionalBehavioral"]["facts"]
    assert [f["code"]["display"] for f in facts] == ["School Code of Conduct"]


def _students() -> bytes:
    from tests.test_edfi_xml import FIXTURES

    return (FIXTURES / "students.xml").read_bytes()
