"""Success plans: one versioned document per student. Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import Plan


def plans_for(session: Session, student_ids: Iterable[str]) -> dict[str, Plan]:
    ids = list(set(student_ids))
    found: dict[str, Plan] = {}
    for start in range(0, len(ids), 400):
        query = select(Plan).where(Plan.student_id.in_(ids[start : start + 400]))
        found.update({row.student_id: row for row in session.scalars(query)})
    return found


def save_plan(
    session: Session,
    row: Plan | None,
    student_id: str,
    document: dict[str, Any],
    now: dt.datetime,
) -> int:
    if row is None:
        session.add(Plan(student_id=student_id, document=document, version=1, updated_at=now))
        return 1
    row.document, row.version, row.updated_at = document, row.version + 1, now
    return row.version


def get_plan(session: Session, student_id: str) -> Plan | None:
    return session.get(Plan, student_id)


def count_plans(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Plan)) or 0)


def lock_plan(session: Session, student_id: str) -> Plan | None:
    """The plan row, locked, so two writers of one plan never lose each other's update."""
    query = select(Plan).where(Plan.student_id == student_id).with_for_update()
    return session.scalars(query).first()
