"""Derived attendance facts: the rule as a table (pure core), then the plan after events arrive."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from helpers import LISA, coordinator_view, count_rows, send_demo

from gateway.core import attendance
from gateway.core.attendance import AttendanceEvent, Enrollment, school_days, school_year_of, summarise
from gateway.core.canonical import digest
from gateway.core.labels import Labels
from gateway.service.exchange.attendance import stored_events
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest, replay
from gateway.service.exchange.retractions import retract_records

FERPA = Labels(regime="FERPA", sensitivity="normal", category="attendance")
RESTRICTED = Labels(regime="FERPA", sensitivity="restricted", category="enrollment")
CATEGORIES = {
    "in-attendance": "present",
    "excused-absence": "absent",
    "unexcused-absence": "absent",
    "tardy": "present",
    "early-departure": "present",
}
SCHOOL = "255901001"
D = dt.date.fromisoformat


def event(day: str, category: str = "unexcused-absence", school: str = SCHOOL) -> AttendanceEvent:
    return AttendanceEvent(
        source_org="grand-bend-isd",
        school=school,
        date=D(day),
        category=category,
        record_digest=digest([day, category, school]),
        labels=FERPA,
    )


def enrolled(
    entry: str, exit_date: str | None = None, school: str = SCHOOL, labels: Labels = FERPA
) -> Enrollment:
    return Enrollment(school=school, entry=D(entry), exit=D(exit_date) if exit_date else None, labels=labels)


# Mon 2025-09-01 .. Fri 2025-09-26 is 20 school days.
FOUR_WEEKS = [event("2025-09-26", "in-attendance")]


@pytest.mark.parametrize(
    ("events", "enrollments", "as_of", "expected"),
    [
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02"), event("2025-09-03")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 2, 0.9, True),
            id="exactly 10% absent: chronic (the boundary counts)",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 1, 0.95, False),
            id="5% absent: not chronic",
        ),
        pytest.param(
            [event("2025-09-29", "in-attendance"), event("2025-09-02"), event("2025-09-03")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (21, 2, 0.9048, False),
            id="2 of 21 days (9.5%): just under the boundary",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02", "excused-absence"), event("2025-09-03", "unexcused-absence")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 2, 0.9, True),
            id="excused and unexcused both count as absent",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02", "excused-absence"), event("2025-09-02", "unexcused-absence")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 1, 0.95, False),
            id="two absence events on one day: one absent day",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02", "tardy"), event("2025-09-03", "early-departure")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 0, 1.0, False),
            id="tardy and early departure are present",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-06"), event("2025-09-07"), event("2025-09-02")],
            [enrolled("2025-09-01")],
            "2026-06-30",
            (20, 1, 0.95, False),
            id="weekend events are not school days",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02"), event("2025-09-22"), event("2025-09-23")],
            [enrolled("2025-09-01", "2025-09-12")],
            "2026-06-30",
            (10, 1, 0.9, True),
            id="exit date ends the enrolled days; later absences do not count",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02")],
            [enrolled("2025-09-01")],
            "2025-09-12",
            (10, 1, 0.9, True),
            id="never past the as-of date",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02")],
            [enrolled("2025-09-01", "2025-09-12"), enrolled("2025-09-08")],
            "2026-06-30",
            (20, 1, 0.95, False),
            id="overlapping enrollments count a day once",
        ),
        pytest.param(
            [*FOUR_WEEKS, event("2025-09-02")],
            [enrolled("2024-08-20")],
            "2026-06-30",
            (19, 1, 0.9474, False),
            id="an enrollment from an earlier year counts from the year's first event",
        ),
    ],
)
def test_attendance_rate_and_chronic_absence(events, enrollments, as_of, expected):
    [summary] = summarise(events, enrollments, CATEGORIES, D(as_of))
    assert (summary.enrolled_days, summary.absent_days, summary.rate, summary.chronic) == expected
    assert summary.school_year == 2026
    assert summary.records == len(events)
    assert summary.sources_digest == digest(sorted(e.record_digest for e in events))


@pytest.mark.parametrize(
    "enrollments",
    [
        pytest.param([], id="no enrollment"),
        pytest.param([enrolled("2025-09-01", school="255901002")], id="enrolled at another school"),
        pytest.param([enrolled("2026-08-20")], id="enrolled only from the next school year"),
    ],
)
def test_no_enrolled_days_no_facts(enrollments):
    assert summarise([*FOUR_WEEKS, event("2025-09-02")], enrollments, CATEGORIES, D("2026-06-30")) == []


@pytest.mark.parametrize(
    ("day", "year"), [("2025-07-01", 2026), ("2025-06-30", 2025), ("2026-01-15", 2026), ("2025-12-31", 2026)]
)
def test_school_year_runs_july_to_june(day, year):
    assert school_year_of(D(day)) == year


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ("2025-09-01", "2025-09-05", 5),
        ("2025-09-01", "2025-09-07", 5),
        ("2025-09-06", "2025-09-07", 0),
        ("2025-09-05", "2025-09-08", 2),
        ("2025-09-01", "2025-09-26", 20),
        ("2025-09-02", "2025-09-01", 0),
    ],
)
def test_school_days_are_weekdays(start, end, days):
    assert school_days(D(start), D(end)) == days


def test_one_summary_per_school_and_year_with_the_strictest_labels():
    events = [*FOUR_WEEKS, event("2025-09-02"), event("2025-09-10", school="255901002")]
    enrollments = [enrolled("2025-09-01", labels=RESTRICTED), enrolled("2025-09-08", school="255901002")]
    found = summarise(events, enrollments, CATEGORIES, D("2026-06-30"))
    assert [(s.school, s.enrolled_days, s.absent_days) for s in found] == [
        (SCHOOL, 20, 1),
        ("255901002", 3, 1),
    ]
    assert found[0].labels == Labels(regime="FERPA", sensitivity="restricted", category="attendance")
    assert found[1].labels == FERPA


def test_elements_a_need_only_while_chronically_absent():
    context = attendance.DerivationContext(
        student_id="stu-x", message_id="m", received_at="2026-01-01T00:00:00Z"
    )
    [chronic] = summarise(
        [*FOUR_WEEKS, event("2025-09-02"), event("2025-09-03")],
        [enrolled("2025-09-01")],
        CATEGORIES,
        D("2026-06-30"),
    )
    [fine] = summarise(FOUR_WEEKS, [enrolled("2025-09-01")], CATEGORIES, D("2026-06-30"))
    slots = [e.slot for e in attendance.elements(chronic, context)]
    assert slots == [attendance.FACTS, attendance.FACTS, "needs"]
    assert [e.slot for e in attendance.elements(fine, context)] == [attendance.FACTS, attendance.FACTS]
    rate = attendance.elements(chronic, context)[0].element
    assert rate["value"] == 0.9
    assert rate["provenance"]["mapping"] == "attendance.chronic-absence@1#attendance-rate"
    assert rate["provenance"]["sourceRecord"]["digest"] == chronic.sources_digest


# -- end to end ---------------------------------------------------------------------------

ATTENDANCE = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"


def send_events(rt, rows):
    body = [
        {
            "studentReference": {"studentUniqueId": "604822"},
            "schoolReference": {"schoolId": 255901001},
            "eventDate": day,
            "attendanceEventCategoryDescriptor": ATTENDANCE + category,
        }
        for day, category in rows
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


def derived(plan):
    facts = {
        f["code"]["code"]: f
        for f in plan["domains"]["attendanceEngagement"]["facts"]
        if attendance.is_derived(f)
    }
    needs = [n for n in plan["needs"] if attendance.is_derived(n)]
    return facts, needs


def test_the_plan_gets_the_summary_not_the_events(rt):
    send_demo(rt, "01")
    send_demo(rt, "02")  # Lisa enrolled at 255901001 from 2025-08-20 (see demo/exchanges)
    summary = send_events(rt, [("2025-09-26", "In Attendance")])
    assert summary.status == "mapped"
    facts, needs = derived(coordinator_view(rt))
    assert facts["chronic-absence"]["value"] is False
    assert needs == []
    assert [e["effective"] for e in stored_events(rt, LISA)] == ["2025-09-26"]
    assert all(not attendance.is_derived(e) for e in stored_events(rt, LISA))
    # Absences arrive: the summary follows, and a need appears while chronically absent.
    send_events(rt, [(f"2025-09-{d:02d}", "Unexcused Absence") for d in (2, 3, 4)])
    facts, needs = derived(coordinator_view(rt))
    assert facts["chronic-absence"]["value"] is True
    assert facts["attendance-rate"]["value"] < 0.9
    assert [n["code"]["code"] for n in needs] == ["chronic-absence"]
    assert facts["attendance-rate"]["provenance"]["sourceRecord"]["id"].endswith("|4")
    assert facts["attendance-rate"]["labels"] == {
        "regime": "FERPA",
        "sensitivity": "normal",
        "category": "attendance",
    }


def test_resending_events_changes_nothing_and_replay_recomputes_the_same(rt):
    send_demo(rt, "01")
    send_demo(rt, "02")
    rows = [("2025-09-26", "In Attendance"), ("2025-09-02", "Excused Absence")]
    first = send_events(rt, rows)
    plan_before = coordinator_view(rt)
    again = send_events(rt, rows)
    assert again.outcome["elementsChanged"] == 0
    assert replay(rt, first.message_id).outcome["elementsChanged"] == 0
    assert coordinator_view(rt) == plan_before
    assert count_rows(rt, "attendance_events") == 2


def test_retracting_absences_recomputes_the_summary_and_drops_the_need(rt):
    send_demo(rt, "01")
    send_demo(rt, "02")
    send_events(
        rt, [("2025-09-26", "In Attendance"), *[(f"2025-09-{d:02d}", "Unexcused Absence") for d in (2, 3, 4)]]
    )
    assert derived(coordinator_view(rt))[1]
    retract_records(
        rt,
        source_org="grand-bend-isd",
        entity="studentSchoolAttendanceEvents",
        source_ids=[f"604822|255901001|2025-09-{d:02d}|{ATTENDANCE}Unexcused Absence" for d in (2, 3, 4)],
        reason="Ed-Fi delete",
    )
    facts, needs = derived(coordinator_view(rt))
    assert (facts["chronic-absence"]["value"], needs) == (False, [])
    assert count_rows(rt, "attendance_events") == 1
