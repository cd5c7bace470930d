"""Retracting what source records brought: an Ed-Fi delete or key change, a OneRoster
``tobedeleted`` row, a record a bulk file no longer contains.

The source record index (written by the pipeline for every accepted record) says which plans a
record reached; each of those plans loses exactly the elements whose provenance names that
record, the index rows turn ``retracted``, and one audit entry (ids digested) records it, all
in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.core.canonical import digest
from gateway.core.plan import without_source_records
from gateway.service.compliance import audit
from gateway.service.exchange import attendance
from gateway.service.identity import guardians
from gateway.service.runtime import Runtime
from gateway.storage import plan_store, source_index
from gateway.storage.tables import SourceRecordRow


@dataclass(frozen=True, kw_only=True)
class RetractionSummary:
    source_org: str
    entity: str
    requested: int
    records: int  # index rows that were active and are now retracted
    students: int
    elements_removed: int

    def to_dict(self) -> dict[str, object]:
        return {
            "sourceOrg": self.source_org,
            "entity": self.entity,
            "requested": self.requested,
            "records": self.records,
            "students": self.students,
            "elementsRemoved": self.elements_removed,
        }


def known_source_ids(rt: Runtime, *, source_org: str, entity: str) -> set[str]:
    """The active source record ids this source has delivered for ``entity`` (mapping keys, '|'-joined)."""
    with rt.sessions() as session:
        return source_index.active_source_ids(session, source_org, entity)


def retract_records(
    rt: Runtime,
    *,
    source_org: str,
    entity: str,
    source_ids: Iterable[str],
    reason: str,
    message_id: str | None = None,
) -> RetractionSummary:
    wanted = set(source_ids)
    now = rt.now()
    with rt.sessions.begin() as session:
        rows = source_index.active_source_records(session, source_org, entity, wanted) if wanted else []
        by_student: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            by_student[row.student_id].add(row.source_id)
            row.status, row.updated_at = "retracted", now
        plans = plan_store.plans_for(session, by_student)
        removed = 0
        for student_id, ids in sorted(by_student.items()):
            plan_row = plans.get(student_id)
            if plan_row is None:
                continue
            outcome = without_source_records(plan_row.document, source_org, entity, ids)
            if outcome.changed:
                plan_store.save_plan(session, plan_row, student_id, outcome.plan, now)
                removed += len(outcome.changed)
        # Attendance events live beside the plan (service/exchange/attendance.py): they leave with it.
        removed += attendance.retract_events(session, source_org, entity, by_student)
        # So do the guardian links a contact association or family user made (service/identity/guardians.py).
        removed += guardians.retract(session, source_org, entity, [row.source_id for row in rows])
        summary = RetractionSummary(
            source_org=source_org,
            entity=entity,
            requested=len(wanted),
            records=len(rows),
            students=len(by_student),
            elements_removed=removed,
        )
        audit.record(session, rt, [_audit_draft(summary, rows_ids(rows), reason, message_id)])
    if by_student:
        # What is derived from the retracted records (attendance summaries) is recomputed.
        trigger = attendance.Trigger(
            source_org=source_org, message_id=message_id or "retraction", received_at=now.isoformat()
        )
        attendance.derive(rt, by_student, trigger)
    audit.checkpoint(rt)
    return summary


def rows_ids(rows: Iterable[SourceRecordRow]) -> list[str]:
    return sorted(row.key_digest for row in rows)


def _audit_draft(
    summary: RetractionSummary, key_digests: list[str], reason: str, message_id: str | None
) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="exchange.retracted",
        actor=summary.source_org,
        subject="",
        details={
            **summary.to_dict(),
            "reason": reason,
            "messageId": message_id,
            # Source ids can carry student identifiers: the entry keeps digests only.
            "recordKeysDigest": digest(key_digests),
        },
    )
