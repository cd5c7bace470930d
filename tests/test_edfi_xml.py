"""Ed-Fi XML interchanges: XML -> Ed-Fi API JSON shapes, bad input, streaming, and ingest end to end."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from gateway.errors import InputInvalid
from gateway.formats import mapping_format, parse_payload, stream_payload
from gateway.formats.edfi_xml import XmlTally, iter_records
from gateway.formats.edfi_xml_convert import camel, plural
from gateway.formats.records import RecordProblem, SourceRecord
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from tests.helpers import LISA, coordinator_view

FIXTURES = Path(__file__).parent / "fixtures" / "edfi_xml"
SHAPES = yaml.safe_load((FIXTURES / "shapes.yaml").read_text("utf-8"))
NS = "http://ed-fi.org/5.2.0"
CATEGORY = "uri://ed-fi.org/AttendanceEventCategoryDescriptor"
PERSON = "<Person><PersonId>P</PersonId><SourceSystem>uri://ed-fi.org/SourceSystemDescriptor#SIS</SourceSystem></Person>"


def items(payload: bytes, entity: str | None = None, tally: XmlTally | None = None) -> list:
    return list(iter_records(io.BytesIO(payload), entity, tally=tally))


def interchange(root: str, body: str, namespace: str = NS) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{namespace}">{body}</{root}>'.encode()


def send(rt, payload: bytes):  # type: ignore[no-untyped-def]
    return ingest(rt, Inbound(source_org="grand-bend-isd", format_name="edfi-xml", payload=payload))


def attendance(event_date: str = "2021-09-01") -> bytes:
    return (FIXTURES / "attendance.xml").read_text("utf-8").replace("{EVENT_DATE}", event_date).encode()


# --- XML -> Ed-Fi API resource JSON, one row per entity type (tests/fixtures/edfi_xml/shapes.yaml)


@pytest.mark.parametrize("row", SHAPES, ids=[row["element"] for row in SHAPES])
def test_record_converts_to_the_api_resource_json(row):
    [item] = items(interchange(row["interchange"], row["xml"]))
    assert isinstance(item, SourceRecord), item
    assert item.entity == row["entity"]
    assert item.data == row["json"]


def test_shape_table_covers_every_entity_type_of_the_brief():
    covered = {row["entity"] for row in SHAPES}
    assert {
        "students",
        "studentSchoolAssociations",
        "studentEducationOrganizationAssociations",
        "studentSchoolAttendanceEvents",
        "studentSectionAttendanceEvents",
        "grades",
        "gradebookEntries",
        "studentGradebookEntries",
        "studentProgramAssociations",
        "studentSpecialEducationProgramAssociations",
        "studentSection504ProgramAssociations",
        "studentHomelessProgramAssociations",
        "studentLanguageInstructionProgramAssociations",
        "studentTitleIPartAProgramAssociations",
        "studentSchoolFoodServiceProgramAssociations",
        "studentCTEProgramAssociations",
        "studentMigrantEducationProgramAssociations",
        "studentNeglectedOrDelinquentProgramAssociations",
        "studentAssessments",
        "assessments",
        "disciplineIncidents",
        "disciplineActions",
        "studentDisciplineIncidentBehaviorAssociations",
        "studentInterventionAssociations",
        "interventions",
        "studentHealths",
    } <= covered


def test_attendance_event_has_the_exact_api_shape():
    first = items(attendance())[0]
    assert first.entity == "studentSchoolAttendanceEvents"
    assert first.location == "InterchangeStudentAttendance/StudentSchoolAttendanceEvent[1] (line 4)"
    assert first.data == {
        "eventDate": "2021-08-31",
        "attendanceEventCategoryDescriptor": f"{CATEGORY}#Excused Absence",
        "attendanceEventReason": "Absent excused",
        "eventDuration": 1,
        "studentReference": {"studentUniqueId": "604822"},
        "schoolReference": {"schoolId": 255901001},
        "sessionReference": {
            "schoolId": 255901001,
            "schoolYear": 2022,
            "sessionName": "2021-2022 Fall Semester",
        },
    }


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("EventDate", "eventDate"),
        ("CTEProgramService", "cteProgramService"),
        ("IEPBeginDate", "iepBeginDate"),
        ("URI", "uri"),
        ("StudentCTEProgramAssociation", "studentCTEProgramAssociation"),
    ],
)
def test_element_names_become_camel_case(name, key):
    assert camel(name) == key


@pytest.mark.parametrize(
    ("key", "plural_key"),
    [
        ("race", "races"),
        ("disability", "disabilities"),
        ("address", "addresses"),
        ("appropriateSex", "appropriateSexes"),
        ("diagnosis", "diagnoses"),
        ("gradebookEntry", "gradebookEntries"),
        ("studentHealth", "studentHealths"),
        ("day", "days"),
    ],
)
def test_collections_take_plural_names(key, plural_key):
    assert plural(key) == plural_key


# --- bad input: the whole payload refused


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE InterchangeStudent [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<InterchangeStudent xmlns="http://ed-fi.org/5.2.0"><Student><StudentUniqueId>&lol4;</StudentUniqueId>
<Name><FirstName>A</FirstName><LastSurname>B</LastSurname></Name><BirthData><BirthDate>2008-01-01</BirthDate>
</BirthData></Student></InterchangeStudent>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE InterchangeStudent [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<InterchangeStudent xmlns="http://ed-fi.org/5.2.0"><Student><StudentUniqueId>&xxe;</StudentUniqueId>
</Student></InterchangeStudent>"""
PLAIN_DOCTYPE = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>'


@pytest.mark.parametrize(
    ("payload", "message", "where"),
    [
        # entity tricks: refused before any record
        (BILLION_LAUGHS, "DOCTYPE or ENTITY", "line 1"),
        (EXTERNAL_ENTITY, "DOCTYPE or ENTITY", "line 1"),
        (PLAIN_DOCTYPE, "DOCTYPE or ENTITY", "line 1"),
        # not well-formed: line and column
        (interchange("InterchangeStudent", "<Student><Name>1</Student>"), "not well-formed", "line 2 column"),
        (b"", "not well-formed", "line"),
        (b"\x00\x01 not xml", "not well-formed", "line 1"),
        # wrong namespace or version, not Ed-Fi at all
        (interchange("InterchangeStudent", "", "http://ed-fi.org/4.0.0"), "not an Ed-Fi", "4.0.0"),
        (interchange("InterchangeStudent", "", "http://ed-fi.org/7.0.0"), "not an Ed-Fi", "7.0.0"),
        (b"<Bundle xmlns='http://hl7.org/fhir'><id value='1'/></Bundle>", "not an Ed-Fi", "hl7.org"),
        (b"<InterchangeStudent><Student/></InterchangeStudent>", "not an Ed-Fi", "namespace ''"),
        # an interchange the gateway does not read
        (interchange("InterchangeFinance", ""), "unknown Ed-Fi interchange", "InterchangeStudent"),
        (interchange("Student", "<Name>1</Name>"), "unknown Ed-Fi interchange", "/Student"),
    ],
)
def test_bad_payload_is_refused_whole_with_its_location(payload, message, where):
    with pytest.raises(InputInvalid) as raised:
        items(payload)
    assert message in raised.value.message
    assert any(where in f"{issue.path} {issue.message}" for issue in raised.value.issues), raised.value.issues


def test_entities_are_never_expanded_or_fetched():
    with pytest.raises(InputInvalid) as raised:
        items(EXTERNAL_ENTITY)
    assert "root:" not in str(raised.value)
    with pytest.raises(InputInvalid) as laughs:
        items(BILLION_LAUGHS)
    assert "lollol" not in str(laughs.value)


# --- bad records: reported with location, the rest of the file still lands


@pytest.mark.parametrize(
    ("event_date", "expected"),
    [
        ("2021-13-45", "is not a valid value of the atomic type 'xs:date'"),
        ("2021-02-30", "is not a valid value of the atomic type 'xs:date'"),  # no such day
        ("0000-01-01", "is not a valid value of the atomic type 'xs:date'"),
        ("not a date", "is not a valid value of the atomic type 'xs:date'"),
        ("99999-01-01", "a year outside 0001-9999"),  # XSD allows it, Ed-Fi does not
        ("-0044-03-15", "a year outside 0001-9999"),
    ],
)
def test_bad_record_two_of_three_is_reported_and_one_and_three_come_through(event_date, expected):
    tally = XmlTally()
    found = items(attendance(event_date), tally=tally)
    records = [i for i in found if isinstance(i, SourceRecord)]
    [problem] = [i for i in found if isinstance(i, RecordProblem)]
    assert [r.data["eventDate"] for r in records] == ["2021-08-31", "2021-09-02"]
    assert problem.location == "InterchangeStudentAttendance/StudentSchoolAttendanceEvent[2] (line 33)"
    assert any(expected in issue.message for issue in problem.issues), problem.issues
    assert all(event_date not in f"{issue.path} {issue.message}" for issue in problem.issues)
    assert (tally.records, tally.problems) == (2, 1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # an element the XSD does not allow inside the record
        (
            "<Student><StudentUniqueId>1</StudentUniqueId><Shoe>9</Shoe></Student>",
            "'Shoe': This element is not expected",
        ),
        # a required element missing
        ("<Student><StudentUniqueId>1</StudentUniqueId></Student>", "Missing child element"),
        # a value too long for its type (length given, value not)
        (
            f"<Student><StudentUniqueId>{'9' * 40}</StudentUniqueId><Name><FirstName>A</FirstName>"
            "<LastSurname>B</LastSurname></Name><BirthData><BirthDate>2008-01-01</BirthDate></BirthData></Student>",
            "maxLength",
        ),
    ],
)
def test_xsd_violations_name_the_element_not_the_value(body, expected):
    [problem] = items(interchange("InterchangeStudent", body))
    assert isinstance(problem, RecordProblem)
    assert problem.location == "InterchangeStudent/Student[1] (line 2)"
    assert any(expected in issue.message for issue in problem.issues), problem.issues
    assert all("9999999999" not in issue.message for issue in problem.issues)


@pytest.mark.parametrize(
    ("body", "element"),
    [
        ("<Shoe>9</Shoe>", "Shoe"),  # not an Ed-Fi record at all
        ("<Grade/>", "Grade"),  # a record of another interchange
        ("<x:Student xmlns:x='urn:other'/>", "Student"),  # a record name in a foreign namespace
    ],
)
def test_unknown_elements_are_problems_naming_element_and_line(body, element):
    """The valid Person after the unknown element is still read (and counted as skipped)."""
    tally = XmlTally()
    found = items(interchange("InterchangeStudent", body + PERSON), tally=tally)
    problems = [i for i in found if isinstance(i, RecordProblem)]
    assert len(problems) == 1
    assert problems[0].location.startswith(f"InterchangeStudent/{element}[1] (line 2)")
    assert element in " ".join(issue.message for issue in problems[0].issues)
    assert tally.skipped == {"Person": 1}


def test_known_elements_not_turned_into_records_are_counted_not_reported():
    tally = XmlTally()
    found = items((FIXTURES / "students.xml").read_bytes(), tally=tally)
    assert [i.data["studentUniqueId"] for i in found] == ["604822", "604823"]
    assert (tally.records, tally.problems, dict(tally.skipped)) == (2, 0, {"Person": 1})


def test_entity_keeps_only_that_resource():
    tally = XmlTally()
    assert items((FIXTURES / "students.xml").read_bytes(), "grades", tally=tally) == []
    assert tally.skipped == {"Student": 2, "Person": 1}


def test_ref_only_references_are_left_out_and_do_not_fail_validation():
    body = (
        "<StudentSchoolAssociation><StudentReference ref='S1'/><SchoolReference><SchoolIdentity><SchoolId>1"
        "</SchoolId></SchoolIdentity></SchoolReference><EntryDate>2021-08-23</EntryDate><EntryGradeLevel>"
        "uri://ed-fi.org/GradeLevelDescriptor#Ninth grade</EntryGradeLevel></StudentSchoolAssociation>"
    )
    [item] = items(interchange("InterchangeStudentEnrollment", body))
    assert isinstance(item, SourceRecord)
    assert "studentReference" not in item.data


# --- Data Standard 6.x: read as 5.2 after a namespace swap


def test_ds6_namespace_is_read_as_52():
    row = next(r for r in SHAPES if r["element"] == "StudentSchoolAttendanceEvent")
    [item] = items(interchange(row["interchange"], row["xml"], "http://ed-fi.org/6.1.0"))
    assert item.data == row["json"]


def test_ds6_only_element_fails_its_record_saying_why():
    body = "<Student><StudentUniqueId>1</StudentUniqueId><NewIn6>x</NewIn6></Student>"
    [problem] = items(interchange("InterchangeStudent", body, "http://ed-fi.org/6.0.0"))
    assert isinstance(problem, RecordProblem)
    assert all("Data Standard 6.x record, checked against the 5.2 XSDs" in i.message for i in problem.issues)


# --- streaming


class CountingStream(io.RawIOBase):
    """A long interchange produced on demand, counting the bytes lxml has asked for."""

    def __init__(self, records: int) -> None:
        row = next(r for r in SHAPES if r["element"] == "StudentSchoolAttendanceEvent")
        self.parts = iter(
            [b'<InterchangeStudentAttendance xmlns="http://ed-fi.org/5.2.0">']
            + [row["xml"].encode()] * records
            + [b"</InterchangeStudentAttendance>"]
        )
        self.pending = b""
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while len(self.pending) < len(buffer):
            part = next(self.parts, None)
            if part is None:
                break
            self.pending += part
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.served += size
        return size


def test_records_are_yielded_before_the_stream_is_read_to_its_end():
    stream = CountingStream(records=20_000)
    found = iter_records(stream)  # type: ignore[arg-type]
    first = next(found)
    assert isinstance(first, SourceRecord)
    assert stream.served < 1_000_000  # the whole stream is about 20 MB
    assert sum(1 for _ in found) == 19_999


def test_registered_as_a_stream_and_a_whole_payload_parser():
    payload = attendance()
    assert mapping_format("edfi-xml") == "edfi-json"
    assert len(parse_payload("edfi-xml", payload).records) == 3
    assert len(list(stream_payload("edfi-xml", io.BytesIO(payload)))) == 3


# --- end to end: Ed-Fi XML lands through the Ed-Fi JSON mappings


def test_students_and_enrollments_land_through_ingest(rt):
    students = send(rt, (FIXTURES / "students.xml").read_bytes())
    enrollments = send(rt, (FIXTURES / "enrollment.xml").read_bytes())
    assert (students.status, students.outcome["accepted"]) == ("mapped", 2)
    assert (enrollments.status, enrollments.outcome["accepted"]) == ("mapped", 2)
    plan = coordinator_view(rt, LISA)
    assert plan["student"]["name"]["given"] == "Lisa"
    assert plan["student"]["gradeLevel"]["value"] == "09"
    assert plan["student"]["name"]["provenance"]["messageId"] == students.message_id


def test_attendance_events_land_through_ingest(rt):
    send(rt, (FIXTURES / "students.xml").read_bytes())
    events = send(rt, attendance())
    assert (events.status, events.outcome["accepted"]) == ("mapped", 3)


def test_a_bad_record_is_rejected_with_its_location_and_the_rest_lands(rt):
    send(rt, (FIXTURES / "students.xml").read_bytes())
    summary = send(rt, attendance("2021-02-30"))
    assert (summary.status, summary.outcome["accepted"], summary.outcome["rejected"]) == ("partial", 2, 1)
    [problem] = [r for r in summary.outcome["records"] if r["status"] == "rejected"]
    assert problem["location"] == "InterchangeStudentAttendance/StudentSchoolAttendanceEvent[2] (line 33)"


def test_a_not_well_formed_file_is_rejected_whole(rt):
    summary = send(rt, b"<InterchangeStudent")
    assert summary.status == "rejected"
