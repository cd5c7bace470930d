"""Success plans: one versioned document per student. Nothing here commits."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import JSON, Text, bindparam, cast, insert, select, update
from sqlalchemy.orm import Session

from gateway.core.plan_texts import texts_of
from gateway.storage.dialect import execute_many, one_of
from gateway.storage.tables import Plan

_PLANS = Plan.__table__


def plans_for(session: Session, student_ids: Iterable[str]) -> dict[str, Plan]:
    ids = list(set(student_ids))
    found: dict[str, Plan] = {}
    for start in range(0, len(ids), 400):
        query = select(Plan).where(one_of(session, Plan.student_id, ids[start : start + 400]))
        found.update({row.student_id: row for row in session.scalars(query)})
    return found


class StoredPlan(NamedTuple):
    """A plan as a batch reads it: a plain row, not an ORM object, to write back to in bulk; its
    document as JSON text (``core.plan_texts``), decoded only where the batch reads it."""

    text: str
    version: int


def stored_plans(session: Session, student_ids: Iterable[str]) -> dict[str, StoredPlan]:
    """The plans of ``student_ids`` (those that have one), read as plain rows."""
    ids = list(set(student_ids))
    found: dict[str, StoredPlan] = {}
    columns = (_PLANS.c.student_id, cast(_PLANS.c.document, Text), _PLANS.c.version)
    for start in range(0, len(ids), 400):
        query = select(*columns).where(one_of(session, _PLANS.c.student_id, ids[start : start + 400]))
        found.update(
            {sid: StoredPlan(document, version) for sid, document, version in session.execute(query)}
        )
    return found


@functools.cache
def _statements(dialect_name: str) -> tuple[Any, Any]:
    """The bulk INSERT of new plans and UPDATE of stored ones, built once per database; the
    document is bound as the JSON text the batch holds (PostgreSQL casts it to json)."""

    def document(name: str) -> Any:
        text = bindparam(name, type_=Text)
        return cast(text, JSON) if dialect_name == "postgresql" else text

    added = insert(Plan).values(
        student_id=bindparam("student_id", type_=_PLANS.c.student_id.type),
        document=document("document"),
        version=bindparam("version", type_=_PLANS.c.version.type),
        updated_at=bindparam("updated_at", type_=_PLANS.c.updated_at.type),
    )
    replaced = (
        update(Plan)
        .where(_PLANS.c.student_id == bindparam("b_student_id"))
        .values(
            document=document("b_document"),
            version=bindparam("b_version", type_=_PLANS.c.version.type),
            updated_at=bindparam("b_updated_at", type_=_PLANS.c.updated_at.type),
        )
    )
    return added, replaced


def save_plans(
    session: Session,
    documents: Mapping[str, Mapping[str, Any]],
    stored: Mapping[str, StoredPlan],
    now: dt.datetime,
) -> None:
    """Write each plan as ``save_plan`` would, in two executemanys: a new plan at version 1, a
    stored one (read by ``stored_plans`` in this transaction) at its next version."""
    added, replaced = _statements(session.get_bind().dialect.name)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for student_id, document in sorted(texts_of(documents).items()):
        row = stored.get(student_id)
        if row is None:
            new.append({"student_id": student_id, "document": document})
        else:
            changed.append({"b_student_id": student_id, "b_document": document, "b_version": row.version + 1})
    execute_many(session, added, new, {"version": 1, "updated_at": now})
    execute_many(session, replaced, changed, {"b_updated_at": now})


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
