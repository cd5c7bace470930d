"""The accounting of disclosures for one student, as a reader may see it.

Read through the indexed ``audit_entries.subject`` column: the student's ``disclosure`` and
``decision`` entries, built into rows by gateway/core/accounting.py. A partner sees only the
disclosures it made or received and its own denials; an unknown student answers exactly as a
student with nothing visible does, so the answer never tells whether a student exists. The read
is audited first (fail closed).
"""

from __future__ import annotations

import datetime as dt

from gateway.core import accounting as core
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord
from gateway.service.compliance.audit_access import AuditReader, record_read
from gateway.service.identity.students import resolve_in
from gateway.service.runtime import Runtime
from gateway.storage.accounting_store import entries_about

Accounting = core.Accounting


def accounting_for(
    rt: Runtime,
    reader: AuditReader,
    student_ref: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    family: bool = False,
) -> Accounting:
    query = {
        "student": student_ref,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "family": family,
    }
    record_read(rt, reader, "disclosures", query)
    with rt.sessions() as session:
        student = resolve_in(session, student_ref)
        rows = entries_about(session, student, (DISCLOSURE, DECISION)) if student else []
    disclosures: list[core.Timed] = []
    decisions: list[core.TimedDecision] = []
    for recorded_at, kind, details in rows:
        if kind == DISCLOSURE:
            record = DisclosureRecord.from_details(details)
            if reader.may_see(record):
                disclosures.append(core.Timed(recorded_at=recorded_at, record=record))
        else:
            decision = DecisionRecord.from_details(details)
            if reader.sees_all or reader.organization_id in (decision.recipient, decision.source):
                decisions.append(core.TimedDecision(recorded_at=recorded_at, record=decision))
    # The answer names the student as asked: an unknown one looks like one with nothing visible.
    return core.build(student_ref, disclosures, decisions, start=start, end=end, family=family)
