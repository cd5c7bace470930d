"""Students and the source identifiers linked to them. Nothing here commits."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.storage.dialect import execute_many, one_of
from gateway.storage.tables import Student, StudentLink


def links_for(session: Session, identifiers: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(system, value) -> the student linked, for those linked. A batch's identifiers are of a
    few systems: the values of each are looked up together (``one_of``)."""
    by_system: dict[str, set[str]] = defaultdict(set)
    for system, value in identifiers:
        by_system[system].add(value)
    found: dict[tuple[str, str], str] = {}
    for system, values in sorted(by_system.items()):
        ordered = sorted(values)
        for start in range(0, len(ordered), 400):
            query = select(StudentLink.value, StudentLink.student_id).where(
                StudentLink.system == system, one_of(session, StudentLink.value, ordered[start : start + 400])
            )
            found.update({(system, v): sid for v, sid in session.execute(query)})
    return found


def add_students(session: Session, student_ids: Iterable[str], now: dt.datetime) -> None:
    session.add_all(Student(id=sid, created_at=now) for sid in student_ids)


def add_links(
    session: Session,
    links: Iterable[tuple[str, str, str]],
    message_id: str | None,
    now: dt.datetime,
) -> None:
    session.add_all(
        StudentLink(system=s, value=v, student_id=sid, message_id=message_id, created_at=now)
        for s, v, sid in links
    )


@functools.cache
def _inserts() -> tuple[Any, Any]:
    return insert(Student), insert(StudentLink)


def insert_students(session: Session, student_ids: Iterable[str], now: dt.datetime) -> None:
    """``add_students`` written now, in one executemany (a batch's new students)."""
    rows = [{"id": sid} for sid in student_ids]
    execute_many(session, _inserts()[0], rows, {"created_at": now})


def insert_links(
    session: Session,
    links: Iterable[tuple[str, str, str]],
    message_id: str | None,
    now: dt.datetime,
) -> None:
    """``add_links`` written now, in one executemany, after the students they name."""
    rows = [{"system": s, "value": v, "student_id": sid} for s, v, sid in links]
    execute_many(session, _inserts()[1], rows, {"message_id": message_id, "created_at": now})


def student_exists(session: Session, student_id: str) -> bool:
    return session.get(Student, student_id) is not None


def student_identifiers(session: Session, student_id: str) -> list[tuple[str, str]]:
    query = (
        select(StudentLink.system, StudentLink.value)
        .where(StudentLink.student_id == student_id)
        .order_by(StudentLink.created_at, StudentLink.system)
    )
    return [(system, value) for system, value in session.execute(query)]
