"""Reading the attendance events kept beside the plan, and re-deriving their summary outside a batch.

An inbound batch stores its events and recomputes the summary of the students it touched itself
(``core.batch_attendance``, in the batch's one plan write). What is here serves the other paths:
a student's events for a read, and ``derive`` after a retraction removed events (in transactions
of its own, with their own audit entries).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.core import attendance, batch_attendance
from gateway.service.compliance import audit
from gateway.service.runtime import Runtime
from gateway.storage import attendance_rows, batch_snapshot, plan_store
from gateway.storage.db import Session

log = logging.getLogger(__name__)
_STUDENTS_PER_TRANSACTION = 100  # bounds the event rows in memory at once (~18k)


def stored_events(rt: Runtime, student_id: str) -> list[dict[str, Any]]:
    """A student's attendance events as plan elements (with provenance and labels), by date.

    Not policy-filtered: callers that disclose them decide per element, as plan reads do."""
    with rt.sessions() as session:
        return [dict(row.document) for row in attendance_rows.attendance_events(session, student_id)]


def retract_events(session: Session, source_org: str, entity: str, by_student: dict[str, set[str]]) -> int:
    return sum(
        attendance_rows.delete_attendance_events(session, source_org, entity, student_id, ids)
        for student_id, ids in sorted(by_student.items())
    )


# -- the derived summary ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """Why the summary is recomputed: the message (or retraction) and its sender."""

    source_org: str
    message_id: str
    received_at: str


def derive(rt: Runtime, students: Iterable[str], trigger: Trigger) -> int:
    """Recompute the derived attendance elements of ``students``; how many elements changed."""
    ordered = sorted(set(students))
    changed = 0
    for start in range(0, len(ordered), _STUDENTS_PER_TRANSACTION):
        chunk = ordered[start : start + _STUDENTS_PER_TRANSACTION]
        with rt.sessions.begin() as session:
            changed_here, students_changed = _derive_chunk(session, rt, chunk, trigger)
            if changed_here:
                audit.record(session, rt, [_audit_draft(trigger, students_changed, changed_here)])
        changed += changed_here
    return changed


def _derive_chunk(
    session: Session, rt: Runtime, students: list[str], trigger: Trigger
) -> tuple[int, list[str]]:
    categories = rt.artifacts.codes.get(attendance.ABSENCE_CATEGORIES, {})
    now = rt.now()
    # read as a batch reads them: one aggregate per source, school, year, category and labels
    stored = batch_snapshot.stored_attendance(session, students, ())
    plans = plan_store.plans_for(session, students)
    changed, students_changed = 0, []
    for student_id in students:
        row = plans.get(student_id)
        if row is None:
            continue  # no plan, so no enrollment: nothing to derive from
        context = attendance.DerivationContext(
            student_id=student_id, message_id=trigger.message_id, received_at=trigger.received_at
        )
        found = stored.get(student_id, ())
        derived = batch_attendance.derive(
            row.document,
            [e.event for e in found],
            context,
            categories=categories,
            as_of=now.date(),
            validators=rt.artifacts.element_validators,
            groups=batch_attendance.groups_of(found),
        )
        if derived.changed:
            plan_store.save_plan(session, row, student_id, derived.plan, now)
            changed += derived.changed
            students_changed.append(student_id)
    return changed, students_changed


def _audit_draft(trigger: Trigger, students: list[str], changed: int) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="attendance.derived",
        actor=trigger.source_org,
        subject="",
        details={
            "messageId": trigger.message_id,
            "rule": f"{attendance.RULE_ID}@{attendance.RULE_VERSION}",
            "students": sorted(students),
            "elementsChanged": changed,
        },
    )
