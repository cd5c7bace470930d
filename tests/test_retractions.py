"""Retracting source records: exactly the elements a record brought leave the plan, audited."""

from __future__ import annotations

import json

from helpers import LISA, count_rows, send_demo

from gateway.core.attendance import is_derived
from gateway.service.compliance.audit import verify
from gateway.service.exchange.attendance import stored_events
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.retractions import known_source_ids, retract_records
from gateway.storage import plan_store

ATTENDANCE_KEY = "604822|255901001|2026-09-08|uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy"


def _events(rt, *dates: str):
    body = [
        {
            "studentReference": {"studentUniqueId": "604822"},
            "schoolReference": {"schoolId": 255901001},
            "eventDate": d,
            "attendanceEventCategoryDescriptor": "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy",
        }
        for d in dates
    ]
    return ingest(
        rt,
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            payload=json.dumps(body).encode(),
            entity="studentSchoolAttendanceEvents",
        ),
    )


def _retract(rt, *source_ids: str, org: str = "grand-bend-isd", reason: str = "x"):
    return retract_records(
        rt, source_org=org, entity="studentSchoolAttendanceEvents", source_ids=source_ids, reason=reason
    )


def _attendance_ids(rt) -> set[str]:
    # Attendance events are kept beside the plan (the plan holds their derived summary).
    with rt.sessions() as session:
        plan = plan_store.get_plan(session, LISA).document
    facts = plan["domains"]["attendanceEngagement"]["facts"]
    events = stored_events(rt, LISA)
    return {e["provenance"]["sourceRecord"]["id"] for e in [*facts, *events] if not is_derived(e)}


def test_accepted_records_are_indexed_by_their_source_key(rt):
    send_demo(rt, "01")
    _events(rt, "2026-09-08", "2026-09-09")
    ids = known_source_ids(rt, source_org="grand-bend-isd", entity="studentSchoolAttendanceEvents")
    assert ATTENDANCE_KEY in ids
    assert len(ids) == 2


def test_retracting_a_record_removes_only_its_elements_and_is_audited(rt):
    send_demo(rt, "01")
    _events(rt, "2026-09-08", "2026-09-09")
    entries_before = count_rows(rt, "audit_entries")
    summary = _retract(rt, ATTENDANCE_KEY, org="grand-bend-isd", reason="Ed-Fi delete")
    assert (summary.records, summary.students, summary.elements_removed) == (1, 1, 1)
    remaining = _attendance_ids(rt)
    assert ATTENDANCE_KEY not in remaining
    assert len(remaining) == 1
    assert ATTENDANCE_KEY not in known_source_ids(
        rt, source_org="grand-bend-isd", entity="studentSchoolAttendanceEvents"
    )
    assert count_rows(rt, "audit_entries") == entries_before + 1
    assert verify(rt).ok


def test_retracting_twice_or_an_unknown_record_changes_nothing(rt):
    send_demo(rt, "01")
    _events(rt, "2026-09-08")
    _retract(rt, ATTENDANCE_KEY)
    again = _retract(rt, ATTENDANCE_KEY)
    other = _retract(rt, "nope", org="riverside-health", reason="x")
    assert (again.records, again.elements_removed) == (0, 0)
    assert (other.records, other.elements_removed) == (0, 0)


def test_a_record_sent_again_after_retraction_comes_back(rt):
    send_demo(rt, "01")
    _events(rt, "2026-09-08")
    _retract(rt, ATTENDANCE_KEY)
    _events(rt, "2026-09-08")
    assert ATTENDANCE_KEY in _attendance_ids(rt)
    assert ATTENDANCE_KEY in known_source_ids(
        rt, source_org="grand-bend-isd", entity="studentSchoolAttendanceEvents"
    )
