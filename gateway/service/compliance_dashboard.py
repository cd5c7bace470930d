"""The compliance officer's dashboard, its drill-downs to audit entries, and their exports.

Gathered from what the flow report reads (``service.reports``: the ``disclosure`` and
``decision`` entries of the period, consents, agreement versions and their signatures) and the
retention standing (``service.retention``), shaped by ``core.dashboard``. A drill-down lists the
very entries a figure counted, each with its verification status from one pass of the audit
verifier (``service.audit.verify``, what ``spgw audit verify`` runs) and the log's signed heads.

Only readers who see the whole audit (compliance officers, administrators, the operator) may
read it; every read and every export is audited (``audit.read``) before the answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core import dashboard as core
from gateway.core import flow_report as fr
from gateway.core.disclosure import DECISION, DISCLOSURE
from gateway.errors import AccessDenied, InputInvalid, Issue
from gateway.service import audit, retention
from gateway.service.audit_access import AuditReader, record_read

# The report's fact builders: one reading of the entries, consents and agreements for both.
from gateway.service.reports import _agreement_fact, _consent_fact, _entries, check_range
from gateway.service.runtime import Runtime
from gateway.storage import audit_store
from gateway.storage import repositories as repo
from gateway.storage import retention_store as store

MAX_ENTRIES = 2000  # a drill-down lists at most this many entries (the count says how many matched)
MAX_ORGANIZATION = 100


@dataclass(frozen=True, kw_only=True)
class EntryView:
    seq: int
    recorded_at: str
    kind: str
    actor: str
    subject: str
    summary: tuple[tuple[str, str], ...]
    hash: str
    status: str


@dataclass(frozen=True, kw_only=True)
class DrillDown:
    selector: core.Selector
    matched: int  # entries the figure counted (``entries`` holds the first MAX_ENTRIES)
    entries: tuple[EntryView, ...]
    chain_ok: bool
    chain_entries: int
    chain_breaks: int


def _check(reader: AuditReader, start: dt.date, end: dt.date, organization: str) -> None:
    if not reader.sees_all:
        raise AccessDenied("the compliance dashboard is for compliance officers and administrators")
    check_range(start, end, fr.PAIR)
    if len(organization) > MAX_ORGANIZATION:
        issue = Issue(path="organization", message=f"at most {MAX_ORGANIZATION} characters")
        raise InputInvalid("the dashboard's filters are not valid", [issue])


def _query(start: dt.date, end: dt.date, organization: str, **more: Any) -> dict[str, Any]:
    query = {"from": start.isoformat(), "to": end.isoformat(), "organization": organization or None}
    return {**query, **{k: v for k, v in more.items() if v is not None}}


def dashboard(
    rt: Runtime,
    reader: AuditReader,
    *,
    start: dt.date,
    end: dt.date,
    organization: str = "",
    export: str | None = None,
) -> core.Dashboard:
    """The dashboard for the period, narrowed to ``organization`` when given; ``export`` names
    the table being downloaded as CSV, so the audited read says so."""
    _check(reader, start, end, organization)
    what = "compliance.export" if export else "compliance.dashboard"
    record_read(
        rt, reader, what, _query(start, end, organization, table=export, format="csv" if export else None)
    )
    return _build(rt, start, end, organization)


def _build(rt: Runtime, start: dt.date, end: dt.date, organization: str) -> core.Dashboard:
    data = _gather(rt, start, end)
    # Past retention as of the period's end, or today when the end is still to come (the report's rule).
    copies = retention.standing(rt, min(end, rt.now().date()))["copies"]
    return core.build(data, copies, organization)


def _gather(rt: Runtime, start: dt.date, end: dt.date) -> fr.ReportInput:
    low, high = start.isoformat(), (end + dt.timedelta(days=1)).isoformat()
    with rt.sessions() as session:
        rows = store.entries_between(session, (DISCLOSURE, DECISION), low, high)
        consent_rows = store.consent_rows(session)
        versions = store.agreement_version_rows(session)
        signers = store.signers_by_version(session)
    everything = AuditReader(organization_id="", client_id="dashboard", role="compliance")
    disclosures, decisions, emergencies = _entries(rows, everything)
    return fr.ReportInput(
        start=start,
        end=end,
        by=fr.PAIR,
        disclosures=tuple(disclosures),
        decisions=tuple(decisions),
        emergencies=tuple(emergencies),
        consents=tuple(_consent_fact(c) for c in consent_rows),
        agreements=tuple(_agreement_fact(v, signers.get((v.key, v.version), set())) for v in versions),
        retention={},
    )


# -- drill-down -------------------------------------------------------------------------------


def check_selector(selector: core.Selector) -> None:
    issues = []
    if selector.figure not in core.FIGURES:
        issues.append(Issue(path="figure", message=f"one of {', '.join(core.FIGURES)}"))
    allowed = core.STATES.get(selector.figure)
    if selector.state is not None and (allowed is None or selector.state not in allowed):
        issues.append(Issue(path="state", message=f"one of {', '.join(allowed or ())} for this figure"))
    if selector.reason is not None and selector.reason not in fr.REASON_CODES:
        issues.append(Issue(path="reason", message=f"one of {', '.join(fr.REASON_CODES)}"))
    if issues:
        raise InputInvalid("the drill-down's parameters are not valid", issues)


def entries(rt: Runtime, reader: AuditReader, selector: core.Selector, *, export: bool = False) -> DrillDown:
    """The audit entries the selector's figure counted, each with its verification status."""
    _check(reader, selector.start, selector.end, selector.organization)
    check_selector(selector)
    query = {**selector.to_query(), **({"format": "csv"} if export else {})}
    record_read(rt, reader, "compliance.entries", query)
    found = _select(rt, selector)
    report = audit.verify(rt)
    with rt.sessions() as session:
        heads = [row.seq for row in repo.checkpoints(session)]
    breaks = [(b.seq, _break_kind(b)) for b in report.breaks]
    views = tuple(_view(e, core.entry_status(e.seq, breaks, heads)) for e in found[:MAX_ENTRIES])
    return DrillDown(
        selector=selector,
        matched=len(found),
        entries=views,
        chain_ok=report.ok,
        chain_entries=report.entries,
        chain_breaks=len(report.breaks),
    )


def _break_kind(b: Any) -> str:
    # The verifier calls both an edited entry and a tree differing from its signed root "edited".
    return core.CHECKPOINT_MISMATCH if b.kind == "edited" and "checkpoint" in b.message else str(b.kind)


def _select(rt: Runtime, selector: core.Selector) -> list[Any]:
    """One pass over the log (as the verifier makes): the entries the figure counted."""
    items = None
    if selector.figure in (core.CONSENTS, core.AGREEMENTS, core.RETENTION):
        built = _build(rt, selector.start, selector.end, selector.organization)
        items = core.items_of(built).of(selector)
    found = []
    with rt.sessions() as session:
        for entry in audit_store.stream_entries(session):
            if _wanted(selector, entry, items):
                found.append(entry)
    return core.first_per_disclosure(found, selector)


def _wanted(selector: core.Selector, entry: Any, items: frozenset[str] | None) -> bool:
    if items is not None:
        return bool(items) and core.names_item(selector.figure, entry.kind, entry.details, items)
    if entry.kind not in (DISCLOSURE, DECISION):
        return False
    return core.counted(selector, entry.kind, dt.date.fromisoformat(entry.recorded_at[:10]), entry.details)


def _view(entry: Any, status: str) -> EntryView:
    return EntryView(
        seq=entry.seq,
        recorded_at=entry.recorded_at,
        kind=entry.kind,
        actor=entry.actor,
        subject=entry.subject,
        summary=core.summary(entry.kind, entry.details),
        hash=entry.hash,
        status=status,
    )


ENTRY_COLUMNS = ("seq", "recorded at", "kind", "actor", "subject", "summary", "hash", "status")


def entry_rows(drill: DrillDown) -> list[tuple[object, ...]]:
    return [
        (
            e.seq,
            e.recorded_at,
            e.kind,
            e.actor,
            e.subject,
            "; ".join(f"{k}={v}" for k, v in e.summary),
            e.hash,
            e.status,
        )
        for e in drill.entries
    ]


def record_export(rt: Runtime, reader: AuditReader, what: str, query: Mapping[str, Any]) -> None:
    """Audit a CSV download the read itself does not name (an accounting's CSV)."""
    record_read(rt, reader, "compliance.export", {"table": what, "format": "csv", **query})
