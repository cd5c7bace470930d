"""A bulk batch on a real database: settled in parts of a few students (``PART_STUDENTS``), read
without SQLite's mmap, and landing what the same records land settled whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from gateway.core import attendance
from gateway.core.ids import student_id_for
from gateway.service.exchange import batch as pipeline
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.storage.db import MMAP_BYTES, without_mmap

DISTRICT = "https://grandbend.example.org/ns/studentUniqueId"
EVENT = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"
DAYS = ("2025-09-22", "2025-09-23", "2025-09-24", "2025-09-25")


def _send(rt: Any, entity: str, body: list[dict[str, Any]]) -> Any:
    inbound = Inbound(
        source_org="grand-bend-isd", format_name="edfi-json", payload=json.dumps(body).encode(), entity=entity
    )
    return ingest(rt, inbound)


def _send_students(rt: Any, uids: list[str]) -> list[Any]:
    students = [
        {"studentUniqueId": u, "firstName": "Ana", "lastSurname": "Ruiz", "birthDate": "2012-04-01"}
        for u in uids
    ]
    enrolments = [
        {
            "studentReference": {"studentUniqueId": u},
            "schoolReference": {"schoolId": 255901001},
            "entryDate": "2025-08-20",
            "entryGradeLevelDescriptor": "uri://ed-fi.org/GradeLevelDescriptor#Ninth grade",
        }
        for u in uids
    ]
    # day by day, every student each day: a student's events span the whole file
    events = [
        {
            "studentReference": {"studentUniqueId": u},
            "schoolReference": {"schoolId": 255901001},
            "eventDate": day,
            "attendanceEventCategoryDescriptor": EVENT + ("Unexcused Absence" if n % 2 else "In Attendance"),
        }
        for day in DAYS
        for n, u in enumerate(uids)
    ]
    return [
        _send(rt, "students", students),
        _send(rt, "studentSchoolAssociations", enrolments),
        _send(rt, "studentSchoolAttendanceEvents", events),
    ]


def _summary(rt: Any, uid: str) -> dict[str, Any]:
    """What the plan says of the student's attendance, without the ids that name the student."""
    with rt.engine.connect() as c:
        raw = c.execute(
            text("SELECT document FROM plans WHERE student_id = :s"), {"s": student_id_for(DISTRICT, uid)}
        ).scalar_one()
    plan = raw if isinstance(raw, dict) else json.loads(raw)
    facts = plan["domains"]["attendanceEngagement"]["facts"]
    return {
        "derived": sorted((f["code"]["code"], f["value"]) for f in facts if attendance.is_derived(f)),
        "needs": sorted(n["code"]["code"] for n in plan["needs"]),
        "enrollments": len(plan["student"]["enrollments"]),
    }


def _derived_audit(rt: Any) -> list[list[str]]:
    with rt.engine.connect() as c:
        rows = c.execute(text("SELECT details FROM audit_entries WHERE kind = 'attendance.derived'")).all()
    return [(d if isinstance(d, dict) else json.loads(d))["students"] for (d,) in rows]


def test_a_batch_in_parts_lands_what_it_lands_whole(rt, monkeypatch):
    whole = [f"9{n:02d}" for n in range(6)]
    for summary in _send_students(rt, whole):
        assert summary.status == "mapped", summary.outcome

    parted = [f"8{n:02d}" for n in range(6)]
    seen: list[list[int]] = []
    original = pipeline.batch_parts.parts

    def parts(*args: Any) -> Any:
        found = original(*args)
        seen.append([len(p.mapped) for p in found])
        return found

    monkeypatch.setattr(pipeline, "PART_STUDENTS", 2)
    monkeypatch.setattr(pipeline.batch_parts, "parts", parts)
    summaries = _send_students(rt, parted)
    assert [s.status for s in summaries] == ["mapped"] * 3
    assert [s.outcome["accepted"] for s in summaries] == [6, 6, 24]
    assert seen == [[2, 2, 2], [2, 2, 2], [8, 8, 8]]  # every batch split, each student's events together

    for one, other in zip(whole, parted, strict=True):
        assert _summary(rt, other) == _summary(rt, one)
    assert any(value for _, value in _summary(rt, parted[1])["derived"])
    # the audit names every student the batch derived, once, as settling whole does
    *_, whole_audit, parted_audit = _derived_audit(rt)
    assert sorted(parted_audit) == sorted(student_id_for(DISTRICT, u) for u in parted)
    assert len(set(parted_audit)) == len(parted_audit)
    assert len(parted_audit) == len(whole_audit)


def test_a_bulk_batch_reads_without_mmap_and_a_small_one_with_it(rt, monkeypatch):
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("mmap is SQLite's")
    settings: list[int] = []
    original = pipeline._load

    def load(session: Any, *args: Any) -> Any:
        settings.append(session.connection().exec_driver_sql("PRAGMA mmap_size").scalar())
        return original(session, *args)

    monkeypatch.setattr(pipeline, "_load", load)
    monkeypatch.setattr(pipeline, "PART_STUDENTS", 8)
    _send_students(rt, ["701", "702"])  # files of 2, 2 and 8 records: none larger than a part
    _send_students(rt, ["711", "712", "713", "714"])  # 4, 4 and 16: the events are a bulk batch
    assert settings == [MMAP_BYTES] * 5 + [0]
    with rt.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA mmap_size").scalar() == MMAP_BYTES


def test_without_mmap_restores_it_after_a_failure(rt):
    sqlite = rt.engine.dialect.name == "sqlite"
    inside: list[int] = []

    def failing_batch() -> None:
        with rt.sessions.begin() as session, without_mmap(session):
            if sqlite:
                inside.append(session.connection().exec_driver_sql("PRAGMA mmap_size").scalar())
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert inside == ([0] if sqlite else [])
    if sqlite:
        with rt.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA mmap_size").scalar() == MMAP_BYTES
