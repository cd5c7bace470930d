"""Attendance events beside the plan, and the facts derived from them.

Events (one per Ed-Fi StudentSchoolAttendanceEvent) are mapped and validated like every plan
element, then kept as rows (``attendance_events``) inside the batch's transaction; the plan gets
the derived summary (``gateway/core/attendance.py``): attendance rate, chronic absence and, while
chronically absent, an attendance need.

The summary is recomputed once per message, after its batches, for every student whose events
or enrollments the message carried (``derive``), in transactions of its own with their own
audit entries. A message is only marked done after that, so a crash in between leaves it
``received`` and a replay recomputes the summary (re-deriving the same facts changes nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.core import attendance
from gateway.core.labels import Labels
from gateway.core.mapping import PlanElement
from gateway.core.plan import iter_elements, merge_elements, without_elements
from gateway.service import audit
from gateway.service.runtime import Runtime
from gateway.storage import attendance_rows, plan_store

log = logging.getLogger(__name__)
ABSENCE_CATEGORIES = "attendance-absence-categories"
_STUDENTS_PER_TRANSACTION = 100  # bounds the event rows in memory at once (~18k)


@dataclass(frozen=True, kw_only=True)
class EventToStore:
    index: int  # the record's position in its batch
    student_id: str
    source_org: str
    school: str
    entity: str
    source_id: str
    record_digest: str
    element: PlanElement


def content_key(item: EventToStore) -> str:
    """What an event says is fixed by its record and the mapping version that read it."""
    return f"{item.record_digest}|{item.element.element['provenance']['mapping']}"


def changed_events(session: Session, items: list[EventToStore]) -> list[EventToStore]:
    """The events that are new or differ from what is stored (re-sent events change nothing)."""
    stored = attendance_rows.attendance_content_keys(session, (str(i.element.element["id"]) for i in items))
    latest = {str(i.element.element["id"]): i for i in items}  # a record sent twice: the last wins
    return [i for element_id, i in latest.items() if stored.get(element_id) != content_key(i)]


def store_events(session: Session, items: list[EventToStore], now: dt.datetime) -> None:
    attendance_rows.upsert_attendance_events(session, [_row(i, now) for i in items])


def _row(item: EventToStore, now: dt.datetime) -> dict[str, Any]:
    element = item.element.element
    effective = str(element["effective"])[:10]
    labels = element["labels"]
    return {
        "element_id": element["id"],
        "student_id": item.student_id,
        "source_org": item.source_org,
        "school": item.school,
        "school_year": attendance.school_year_of(dt.date.fromisoformat(effective)),
        "event_date": effective,
        "category": str(element["code"]["code"]),
        "entity": item.entity,
        "source_id": item.source_id,
        "record_digest": item.record_digest,
        "content_key": content_key(item),
        "regime": labels["regime"],
        "sensitivity": labels["sensitivity"],
        "document": dict(element),
        "message_id": element["provenance"]["messageId"],
        "updated_at": now,
    }


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
    categories = rt.artifacts.codes.get(ABSENCE_CATEGORIES, {})
    as_of = rt.now().date()
    now = rt.now()
    events = _events_by_student(attendance_rows.attendance_inputs(session, students))
    plans = plan_store.plans_for(session, students)
    changed, students_changed = 0, []
    for student_id in students:
        row = plans.get(student_id)
        if row is None:
            continue  # no plan, so no enrollment: nothing to derive from
        summaries = attendance.summarise(
            events.get(student_id, []), attendance.enrollments_of(row.document), categories, as_of
        )
        context = attendance.DerivationContext(
            student_id=student_id, message_id=trigger.message_id, received_at=trigger.received_at
        )
        new = [element for summary in summaries for element in attendance.elements(summary, context)]
        plan, count = _replace_derived(rt, row.document, new)
        if count:
            plan_store.save_plan(session, row, student_id, plan, now)
            changed += count
            students_changed.append(student_id)
    return changed, students_changed


def _replace_derived(rt: Runtime, plan: dict[str, Any], new: list[PlanElement]) -> tuple[dict[str, Any], int]:
    wanted = {str(e.element["id"]) for e in new}
    stale = {
        str(element["id"])
        for _, element in iter_elements(plan)
        if attendance.is_derived(element) and element["id"] not in wanted
    }
    base = without_elements(plan, stale) if stale else plan
    merged = merge_elements(base, new)
    changed = set(merged.changed)
    for item in new:
        if item.element["id"] in changed:
            errors = list(rt.artifacts.element_validators[item.slot].iter_errors(dict(item.element)))
            if errors:
                # A derivation bug, not bad input: fail the transaction (nothing half-written).
                raise ValueError(f"derived element {item.element['id']} does not validate")
    return merged.plan, len(changed) + len(stale)


def _events_by_student(rows: list[tuple[Any, ...]]) -> dict[str, list[attendance.AttendanceEvent]]:
    found: dict[str, list[attendance.AttendanceEvent]] = defaultdict(list)
    labels: dict[tuple[str, str], Labels] = {}
    for student_id, source_org, school, day, category, record_digest, regime, sensitivity in rows:
        label = labels.get((regime, sensitivity))
        if label is None:
            label = labels[(regime, sensitivity)] = Labels(
                regime=regime, sensitivity=sensitivity, category=attendance.CATEGORY
            )
        found[student_id].append(
            attendance.AttendanceEvent(
                source_org=source_org,
                school=school,
                date=dt.date.fromisoformat(day),
                category=category,
                record_digest=record_digest,
                labels=label,
            )
        )
    return found


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
