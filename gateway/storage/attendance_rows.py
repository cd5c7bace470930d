"""Attendance events, kept beside the plan they feed. Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from gateway.storage.dialect import Upsert, one_of, upsert_many
from gateway.storage.tables import AttendanceEventRow

_CHUNK = 900  # bound parameters per IN list: well under SQLite's and PostgreSQL's limits


def attendance_content_keys(session: Session, element_ids: Iterable[str]) -> dict[str, str]:
    """element id -> content key of the stored events among ``element_ids``."""
    ids = list(set(element_ids))
    found: dict[str, str] = {}
    table = AttendanceEventRow.__table__
    for start in range(0, len(ids), _CHUNK):
        query = select(table.c.element_id, table.c.content_key).where(
            one_of(session, table.c.element_id, ids[start : start + _CHUNK])
        )
        found.update({element_id: key for element_id, key in session.execute(query)})
    return found


_EVENTS = cast(Table, AttendanceEventRow.__table__)
# Every column but the key is replaced: a corrected record replaces its event whole.
_UPSERT = Upsert(
    table=_EVENTS, key=("element_id",), updated=tuple(c.key for c in _EVENTS.c if c.key != "element_id")
)


def upsert_attendance_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or replace events by element id (one statement, no ORM objects); each row holds
    every column."""
    upsert_many(session, _UPSERT, rows)


def attendance_events(session: Session, student_id: str) -> list[AttendanceEventRow]:
    query = (
        select(AttendanceEventRow)
        .where(AttendanceEventRow.student_id == student_id)
        .order_by(AttendanceEventRow.event_date, AttendanceEventRow.element_id)
    )
    return list(session.scalars(query))


def delete_attendance_events(
    session: Session, source_org: str, entity: str, student_id: str, source_ids: Iterable[str]
) -> int:
    """Remove the events one source's records brought to one student; how many were removed."""
    ids = list(set(source_ids))
    removed = 0
    for start in range(0, len(ids), _CHUNK):
        result = session.execute(
            delete(AttendanceEventRow).where(
                AttendanceEventRow.student_id == student_id,
                AttendanceEventRow.source_org == source_org,
                AttendanceEventRow.entity == entity,
                one_of(session, AttendanceEventRow.source_id, ids[start : start + _CHUNK]),
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
