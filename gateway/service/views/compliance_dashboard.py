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
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord
from gateway.errors import AccessDenied, InputInvalid, Issue
from gateway.service.compliance import audit, retention
from gateway.service.compliance.audit_access import AuditReader, record_read

# The report's fact builders: one reading of the entries, consents and agreements for both.
from gateway.service.compliance.reports import agreement_fact, check_range, consent_fact, report_entries
from gateway.service.runtime import Runtime
from gateway.storage import audit_store
from gateway.storage import dashboard_queries as queries
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
        rows = queries.counted_entries(session, (DISCLOSURE, DECISION), low, high)
        consent_rows = store.consent_rows(session)
        versions = store.agreement_version_rows(session)
        signers = store.signers_by_version(session)
    everything = AuditReader(organization_id="", client_id="dashboard", role="compliance")
    disclosures, decisions, emergencies = report_entries(rows, everything)
    return fr.ReportInput(
        start=start,
        end=end,
        by=fr.PAIR,
        disclosures=tuple(disclosures),
        decisions=tuple(decisions),
        emergencies=tuple(emergencies),
        consents=tuple(consent_fact(c) for c in consent_rows),
        agreements=tuple(agreement_fact(v, signers.get((v.key, v.version), set())) for v in versions),
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
        heads = [row.seq for row in audit_store.checkpoints(session)]
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
    """The entries the figure counted: a flow or denial figure's by kind and time (the recorded_at
    index), an item figure's (lifecycle entries of any date) by one pass over the log."""
    items = None
    if selector.figure in (core.CONSENTS, core.AGREEMENTS, core.RETENTION):
        built = _build(rt, selector.start, selector.end, selector.organization)
        items = core.items_of(built).of(selector)
    with rt.sessions() as session:
        if items is None:
            low, high = selector.start.isoformat(), (selector.end + dt.timedelta(days=1)).isoformat()
            candidates = queries.entries_in(session, (DISCLOSURE, DECISION), low, high)
        else:
            candidates = audit_store.stream_entries(session)
        found = [entry for entry in candidates if _wanted(selector, entry, items)]
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
        summary=summary(entry.kind, entry.details),
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


# -- what the drill-down shows of an entry ----------------------------------------------------

_ID_KEYS = ("consentId", "agreementId", "version", "messageId", "deliveryId", "count", "what")


def summary(kind: str, details: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The ids and codes of an entry worth a column: never free text (the audit holds none)."""
    if kind == DISCLOSURE:
        d = DisclosureRecord.from_details(details)
        found = [
            ("flow", d.flow),
            ("from", ",".join(d.sources)),
            ("to", d.recipient),
            ("purpose", d.purpose),
            ("categories", ",".join(d.categories)),
            ("records", str(d.record_count)),
            ("disclosure", d.disclosure_id),
        ]
        return tuple(found + ([("emergency", "99.36")] if d.emergency_threat_digest else []))
    if kind == DECISION:
        c = DecisionRecord.from_details(details)
        codes = sorted({fr.reason_code(r) for r in c.reasons}) if c.effect == "deny" else []
        return (
            ("decision", c.decision_id),
            ("effect", c.effect),
            ("from", c.source),
            ("to", c.recipient),
            ("purpose", c.purpose),
            ("reasons", ",".join(codes)),
        )
    return tuple((k, str(details[k])) for k in _ID_KEYS if details.get(k) not in (None, ""))


# -- CSV --------------------------------------------------------------------------------------

TABLES = (
    "series",
    "pairs",
    "categories",
    "purposes",
    "denials",
    "consents",
    "agreements",
    "emergencies",
    "retention",
)


def table(board: core.Dashboard, name: str) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    """One of the dashboard's tables (``TABLES``) as a header and rows, as the CSV gives it."""
    report = board.report
    if name == "series":
        return ("from", "to", "disclosures", "records", "denials"), [
            (b.start.isoformat(), b.end.isoformat(), b.disclosures, b.records, b.denials)
            for b in board.series
        ]
    if name in ("pairs", "categories", "purposes"):
        return _flow_table(board, name)
    if name == "denials":
        return ("reason", "source", "recipient", "purpose", "denials", "categories"), [
            (d["reason"], d["source"], d["recipient"], d["purpose"], d["denials"], ",".join(d["categories"]))
            for d in report["denials"]
        ]
    if name == "consents":
        rows = [(s, c) for s in core.CONSENT_STATES for c in report["consents"][s]]
        return ("state", "consent"), list(rows)
    if name == "agreements":
        return ("state", "agreement", "version", "parties", "unsigned by", "expires"), [
            (
                s,
                a["key"],
                a["version"],
                ",".join(a["parties"]),
                ",".join(a.get("unsignedBy", [])),
                a.get("expires"),
            )
            for s in core.AGREEMENT_STATES
            for a in report["agreements"][s]
        ]
    if name == "emergencies":
        return ("date", "disclosure", "sources", "recipient", "purpose", "categories"), [
            (
                e["date"],
                e["id"],
                ",".join(e["sources"]),
                e["recipient"],
                e["purpose"],
                ",".join(e["categories"]),
            )
            for e in report["emergencies"]
        ]
    if name == "retention":
        return (
            "kind",
            "copy",
            "status",
            "source",
            "recipient",
            "standing",
            "retention ends",
            "agreements",
        ), [
            (
                c["kind"],
                c["id"],
                c["status"],
                c["source"],
                c.get("recipient"),
                c["standing"],
                c.get("retentionEnds"),
                ",".join(c.get("agreements", [])),
            )
            for c in board.retention
        ]
    raise InputInvalid("no such table", [Issue(path="table", message=f"one of {', '.join(TABLES)}")])


_FLOW_TABLES = {"pairs": ("source", "recipient"), "categories": ("category",), "purposes": ("purpose",)}


def _flow_table(board: core.Dashboard, name: str) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    rows = {
        "pairs": board.report["flows"],
        "categories": board.by_category,
        "purposes": board.by_purpose,
    }[name]
    keys = _FLOW_TABLES[name]
    return (*keys, "disclosures", "records"), [
        (*(r[k] for k in keys), r["disclosures"], r["records"]) for r in rows
    ]
