"""A batch reads stored attendance as aggregates (storage/batch_snapshot.stored_attendance) from
one covering index (migration 0017): the summaries must be those of reading every event one by
one, whichever events the batch takes one by one, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from gateway.core import attendance
from gateway.core.labels import Labels
from gateway.service.runtime import Runtime
from gateway.storage.batch_snapshot import stored_attendance, stored_events
from gateway.storage.tables import AttendanceEventRow

CATEGORIES = {"excused-absence": "absent", "unexcused-absence": "absent", "tardy": "present"}
SCHOOLS = ("255901001", "255901044")
STUDENTS = ("st-a", "st-b", "st-c")
AS_OF = dt.date(2026, 6, 30)


def _rows(seed: int) -> list[dict[str, Any]]:
    chance = random.Random(seed)
    rows = []
    for n in range(240):
        day = dt.date(2024, 8, 20) + dt.timedelta(days=chance.randrange(0, 640))  # two school years
        rows.append(
            {
                "element_id": f"el-{seed}-{n}",
                "student_id": chance.choice(STUDENTS),
                "source_org": chance.choice(("grand-bend-isd", "river-charter")),
                "school": chance.choice(SCHOOLS),
                "school_year": attendance.school_year_of(day),
                "event_date": day.isoformat(),
                "category": chance.choice(sorted(CATEGORIES)),
                "entity": "studentSchoolAttendanceEvents",
                "source_id": f"src-{n}",
                "record_digest": f"sha256:{chance.getrandbits(64):016x}",
                "content_key": f"k-{n}",
                "regime": chance.choice(("FERPA", "HIPAA")),
                "sensitivity": chance.choice(("normal", "restricted")),
                "document": {"id": f"el-{seed}-{n}"},
                "message_id": "m-1",
                "updated_at": dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
            }
        )
    return rows


def _summaries(events: Any, groups: Any) -> list[attendance.AttendanceSummary]:
    labels = Labels(regime="FERPA", sensitivity="normal", category=attendance.CATEGORY)
    enrolled = [
        attendance.Enrollment(school=s, entry=dt.date(2024, 8, 1), exit=None, labels=labels) for s in SCHOOLS
    ]
    return attendance.summarise(events, enrolled, CATEGORIES, AS_OF, groups=groups)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("taken", ["none", "some"])
def test_aggregates_give_the_summaries_of_every_event_read_one_by_one(
    bare_rt: Runtime, seed: int, taken: str
) -> None:
    rows = _rows(seed)
    one_by_one_ids = [r["element_id"] for r in rows[::7]] if taken == "some" else []
    with Session(bare_rt.engine) as session:
        session.execute(insert(AttendanceEventRow.__table__), rows)
        read = stored_attendance(session, STUDENTS, one_by_one_ids)
        every = stored_events(session, STUDENTS)
    for student in STUDENTS:
        found = read[student]
        expected = _summaries([e.event for e in every[student]], ())
        assert expected  # the workload gives each student events in both years
        assert _summaries([e.event for e in found], found.groups) == expected
        assert {e.element_id for e in found} == {
            i for i in one_by_one_ids if i in {e.element_id for e in every[student]}
        }


def test_the_summary_index_is_there_after_migrating(bare_rt: Runtime) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(bare_rt.engine).get_indexes("attendance_events")}
    columns = indexes["ix_attendance_events_summary"]
    # the old index's columns first (it is their prefix), then every column the aggregates read
    assert columns[:3] == ["student_id", "school", "school_year"]
    read = {"source_org", "category", "regime", "sensitivity", "event_date", "record_digest"}
    assert set(columns[3:]) == read
    assert "ix_attendance_events_student" not in indexes  # its prefix, gone


def test_on_sqlite_the_aggregates_come_off_the_index_alone_without_a_sort(bare_rt: Runtime) -> None:
    if bare_rt.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "group_concat" in statement:
            statements.append((statement, parameters))

    event.listen(bare_rt.engine, "before_cursor_execute", keep)
    try:
        with Session(bare_rt.engine) as session:
            stored_attendance(session, STUDENTS, [])
    finally:
        event.remove(bare_rt.engine, "before_cursor_execute", keep)
    assert statements
    with bare_rt.engine.connect() as connection:
        for statement, parameters in statements:
            plan = " | ".join(
                str(row[-1])
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "COVERING INDEX ix_attendance_events_summary" in plan
            assert "TEMP B-TREE" not in plan
