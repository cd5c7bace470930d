"""The flow report (``spgw report flows``, ``GET /api/v1/reports/flows``) and the retention report.

Who sees what: a compliance officer, an administrator and the operator (CLI) see the whole
report. A partner is not refused: it gets the same report restricted to what concerns it (flows
it made or received, denials of requests it made or that named it, consents it recorded,
agreements it is a party to) and no retention section (the copies are the gateway's). Restricting
rather than refusing is the rule the audit already follows (``AuditReader.may_see``). Every read
is audited (``audit.read``, what ``report.flows`` / ``report.retention``) before the answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.core import flow_report as fr
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord
from gateway.errors import AccessDenied, InputInvalid, Issue
from gateway.service.compliance import retention
from gateway.service.compliance.audit_access import AuditReader, record_read
from gateway.service.runtime import Runtime
from gateway.storage import dashboard_queries as queries
from gateway.storage import retention_store as store
from gateway.storage.tables import ConsentRow

MAX_DAYS = 3660  # a report spans at most ten years: a bound on the scan, and on typos


def check_range(start: dt.date, end: dt.date, by: str) -> None:
    issues = []
    if end < start:
        issues.append(Issue(path="to", message="the end date is before the start date"))
    elif (end - start).days > MAX_DAYS:
        issues.append(Issue(path="to", message=f"a report spans at most {MAX_DAYS} days"))
    if by not in fr.GROUPINGS:
        issues.append(Issue(path="by", message=f"use one of {', '.join(fr.GROUPINGS)}"))
    if issues:
        raise InputInvalid("the report's parameters are not valid", issues)


def flow_report(rt: Runtime, reader: AuditReader, *, start: dt.date, end: dt.date, by: str) -> dict[str, Any]:
    check_range(start, end, by)
    query = {"from": start.isoformat(), "to": end.isoformat(), "by": by}
    record_read(rt, reader, "report.flows", query)
    data = _gather(rt, reader, start, end, by)
    report = fr.build(data)
    report["scope"] = "all" if reader.sees_all else reader.organization_id
    return report


def retention_report(rt: Runtime, reader: AuditReader, *, today: dt.date | None = None) -> dict[str, Any]:
    """What is past retention (to purge, or pending) and what was purged. The copies are the
    gateway's, so only readers who see everything may read it (a partner: 403)."""
    if not reader.sees_all:
        raise AccessDenied("the retention report is for compliance officers and administrators")
    day = today or rt.now().date()
    record_read(rt, reader, "report.retention", {"date": day.isoformat()})
    return retention.standing(rt, day)


def _gather(rt: Runtime, reader: AuditReader, start: dt.date, end: dt.date, by: str) -> fr.ReportInput:
    low, high = start.isoformat(), (end + dt.timedelta(days=1)).isoformat()
    with rt.sessions() as session:
        entries = queries.counted_entries(session, (DISCLOSURE, DECISION), low, high)
        consent_rows = store.consent_rows(session)
        versions = store.agreement_version_rows(session)
        signers = store.signers_by_version(session)
    disclosures, decisions, emergencies = report_entries(entries, reader)
    org = reader.organization_id
    agreements = [
        agreement_fact(v, signers.get((v.key, v.version), set()))
        for v in versions
        if reader.sees_all or org in v.document.get("parties", [])
    ]
    consents = [consent_fact(c) for c in consent_rows if reader.sees_all or c.recorded_by == org]
    # Past retention as of the report's end, or today when the end is still to come.
    as_of = min(end, rt.now().date())
    standing = retention.standing(rt, as_of)["counts"] if reader.sees_all else {}
    return fr.ReportInput(
        start=start,
        end=end,
        by=by,
        disclosures=tuple(disclosures),
        decisions=tuple(decisions),
        emergencies=tuple(emergencies),
        consents=tuple(consents),
        agreements=tuple(agreements),
        retention={_STANDING[k]: n for k, n in standing.items()},
    )


_STANDING = {"purge": "pastRetention", "pending": "pastRetentionPending", "purged": "purged"}


def report_entries(
    rows: Iterable[Any], reader: AuditReader
) -> tuple[list[fr.Disclosed], list[fr.Decided], list[fr.Emergency]]:
    """The facts of (recorded_at, kind, details) rows that ``reader`` may see. The details need
    only the fields the report counts (``dashboard_queries.FIELDS``): the records' other fields
    are left empty, and nothing reads them."""
    disclosures: list[fr.Disclosed] = []
    decisions: list[fr.Decided] = []
    emergencies: list[fr.Emergency] = []
    for recorded_at, kind, details in rows:
        day = dt.date.fromisoformat(recorded_at[:10])
        if kind == DISCLOSURE:
            record = _disclosure(details)
            if reader.may_see(record):
                disclosures.append(fr.Disclosed(day=day, record=record))
                if record.emergency_threat_digest:
                    emergencies.append(_emergency(day, record))
        elif kind == DECISION:
            decision = _decision(details)
            if reader.sees_all or reader.organization_id in (decision.source, decision.recipient):
                decisions.append(fr.Decided(day=day, record=decision))
    return disclosures, decisions, _unique(emergencies)


# A dashboard reads tens of thousands of entries: the records are built from the counted fields
# alone (``from_details`` would also copy every list the report never reads).
def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if values else ()


def _disclosure(d: Mapping[str, Any]) -> DisclosureRecord:
    threat = d.get("emergencyThreatDigest")
    return DisclosureRecord(
        disclosure_id=str(d.get("disclosureId", "")),
        flow=str(d.get("flow", "")),
        sources=_texts(d.get("sources")),
        recipient=str(d.get("recipient", "")),
        recipient_role="",
        actor="",
        purpose=str(d.get("purpose", "")),
        legal_basis=(),
        categories=_texts(d.get("categories")),
        elements=(),
        record_count=int(d.get("recordCount", 0)),
        payload_digest="",
        redactions=(),
        agreements=(),
        consent_ids=(),
        decision_ids=(),
        policy_version="",
        emergency_threat_digest=str(threat) if threat else None,
    )


def _decision(d: Mapping[str, Any]) -> DecisionRecord:
    return DecisionRecord(
        decision_id=str(d.get("decisionId", "")),
        effect=str(d.get("effect", "")),
        action="",
        source=str(d.get("source", "")),
        recipient=str(d.get("recipient", "")),
        role="",
        purpose=str(d.get("purpose", "")),
        categories=_texts(d.get("categories")),
        basis=(),
        obligations=(),
        rules=(),
        reasons=_texts(d.get("reasons")),
        policy_version="",
        agreements=(),
    )


def _emergency(day: dt.date, record: DisclosureRecord) -> fr.Emergency:
    return fr.Emergency(
        day=day,
        id=record.disclosure_id,
        sources=record.sources,
        recipient=record.recipient,
        purpose=record.purpose,
        categories=record.categories,
    )


def _unique(items: list[fr.Emergency]) -> list[fr.Emergency]:
    """One emergency per id: a flow that wrote both a legacy read and a disclosure counts once."""
    seen: dict[str, fr.Emergency] = {}
    for item in items:
        seen.setdefault(item.id, item)
    return list(seen.values())


def _day(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def consent_fact(row: ConsentRow) -> fr.ConsentFact:
    period = (row.document.get("provision") or {}).get("period") or {}
    return fr.ConsentFact(
        id=row.id,
        status=row.status,
        recorded_by=row.recorded_by or "",
        signed=_day(row.signed_at),
        revoked=_day(row.revoked_at),
        ends=_day(period.get("end")),
    )


def agreement_fact(row: Any, signed: set[str]) -> fr.AgreementFact:
    parties = tuple(sorted(row.document.get("parties", [])))
    return fr.AgreementFact(
        key=row.key,
        id=row.agreement_id,
        version=row.version,
        state=row.state,
        parties=parties,
        unsigned_by=tuple(p for p in parties if p not in signed),
        expires=_day(row.document.get("expires")),
    )
