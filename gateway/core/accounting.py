"""The accounting of disclosures for one student (FERPA 34 CFR 99.32, HIPAA 45 CFR 164.528).

Built from the ``disclosure`` and ``decision`` audit entries (gateway/core/disclosure.py) and
their times, nothing else: one row per recipient and purpose, the repeats summarised as
164.528(b)(3) allows (the first disclosure in full, how many, the last date). Rows the law
exempts from the family's copy are marked ``internal``: 34 CFR 99.32(d) (school officials with a
legitimate educational interest, the family itself, the student's own record), HIPAA treatment,
payment and operations (164.528(a)(1)(i)), and inbound flows, where a partner sent records to
the gateway acting for its parties. The compliance officer sees them; the family copy leaves
them out, and never shows the denied requests.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.core.csv_safe import safe_row
from gateway.core.disclosure import INBOUND, DecisionRecord, DisclosureRecord

HIPAA_WINDOW_YEARS = 6  # 164.528(a)(3): an individual may ask for six years before the request
FAMILY_ACCESS = "family-access"
_SCHOOL_OFFICIAL = "ferpa:34 CFR 99.31(a)(1)"
_HIPAA_TPO = "hipaa:45 CFR 164.506"


@dataclass(frozen=True, kw_only=True)
class Timed:
    """An audit entry's record and when it was written (ISO 8601, UTC)."""

    recorded_at: str
    record: DisclosureRecord


@dataclass(frozen=True, kw_only=True)
class TimedDecision:
    recorded_at: str
    record: DecisionRecord


@dataclass(frozen=True, kw_only=True)
class Row:
    """One recipient and purpose: the first disclosure in full, then the count and last date."""

    first_date: str
    last_date: str
    count: int
    recipient: str
    recipient_role: str
    flow: str
    sources: tuple[str, ...]
    purpose: str
    legal_basis: tuple[str, ...]
    categories: tuple[str, ...]
    element_count: int
    record_count: int
    agreements: tuple[str, ...]
    consent_ids: tuple[str, ...]
    decision_ids: tuple[str, ...]
    disclosure_ids: tuple[str, ...]
    emergency: bool
    internal: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "date": self.first_date,
            "lastDate": self.last_date,
            "count": self.count,
            "recipient": self.recipient,
            "recipientRole": self.recipient_role,
            "flow": self.flow,
            "sources": list(self.sources),
            "purpose": self.purpose,
            "legalBasis": list(self.legal_basis),
            "description": {
                "categories": list(self.categories),
                "elementCount": self.element_count,
                "recordCount": self.record_count,
            },
            "agreements": list(self.agreements),
            "consentIds": list(self.consent_ids),
            "decisionIds": list(self.decision_ids),
            "disclosureIds": list(self.disclosure_ids),
            "emergency": self.emergency,
            "internal": self.internal,
        }


@dataclass(frozen=True, kw_only=True)
class Denial:
    date: str
    recipient: str
    role: str
    purpose: str
    action: str
    reasons: tuple[str, ...]
    decision_id: str

    def to_dict(self) -> dict[str, object]:
        return {
            "date": self.date,
            "recipient": self.recipient,
            "role": self.role,
            "purpose": self.purpose,
            "action": self.action,
            "reasons": list(self.reasons),
            "decisionId": self.decision_id,
        }


@dataclass(frozen=True, kw_only=True)
class Accounting:
    student: str
    start: str | None
    end: str | None
    family: bool
    rows: tuple[Row, ...]
    denials: tuple[Denial, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "student": self.student,
            "from": self.start,
            "to": self.end,
            "family": self.family,
            "window": f"HIPAA 45 CFR 164.528(a)(3): up to {HIPAA_WINDOW_YEARS} years may be asked for",
            "disclosures": [r.to_dict() for r in self.rows],
            "denials": [d.to_dict() for d in self.denials],
        }


def is_internal(record: DisclosureRecord) -> bool:
    """Whether the law exempts this disclosure from the family's copy (see the module doc)."""
    if record.flow == INBOUND or record.purpose == FAMILY_ACCESS:
        return True
    if any(b.startswith((_SCHOOL_OFFICIAL, _HIPAA_TPO)) for b in record.legal_basis):
        return True
    return record.sources == (record.recipient,)  # an organization reading only its own records


def in_range(recorded_at: str, start: dt.date | None, end: dt.date | None) -> bool:
    """Inclusive dates, read in UTC from the entry's ISO timestamp."""
    day = recorded_at[:10]
    return (start is None or day >= start.isoformat()) and (end is None or day <= end.isoformat())


def _date(recorded_at: str) -> str:
    return recorded_at[:10]


def _row(group: list[Timed]) -> Row:
    first, last = group[0], group[-1]
    rec = first.record
    return Row(
        first_date=_date(first.recorded_at),
        last_date=_date(last.recorded_at),
        count=len(group),
        recipient=rec.recipient,
        recipient_role=rec.recipient_role,
        flow=rec.flow,
        sources=rec.sources,
        purpose=rec.purpose,
        legal_basis=rec.legal_basis,
        categories=rec.categories,
        element_count=len(rec.elements),
        record_count=rec.record_count,
        agreements=rec.agreements,
        consent_ids=rec.consent_ids,
        decision_ids=rec.decision_ids,
        disclosure_ids=tuple(t.record.disclosure_id for t in group),
        emergency=any(t.record.emergency_threat_digest for t in group),
        internal=is_internal(rec),
    )


def build(
    student: str,
    disclosures: Iterable[Timed],
    decisions: Iterable[TimedDecision] = (),
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    family: bool = False,
) -> Accounting:
    """The accounting: rows in order of their first date; denials only in the officer's copy."""
    groups: dict[tuple[str, str, str, str], list[Timed]] = {}
    for timed in sorted(disclosures, key=lambda t: t.recorded_at):
        rec = timed.record
        if not in_range(timed.recorded_at, start, end) or (family and is_internal(rec)):
            continue
        groups.setdefault((rec.recipient, rec.recipient_role, rec.purpose, rec.flow), []).append(timed)
    rows = tuple(_row(g) for g in groups.values())
    denials = () if family else _denials(decisions, start, end)
    return Accounting(
        student=student,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        family=family,
        rows=rows,
        denials=denials,
    )


def _denials(
    decisions: Iterable[TimedDecision], start: dt.date | None, end: dt.date | None
) -> tuple[Denial, ...]:
    return tuple(
        Denial(
            date=_date(t.recorded_at),
            recipient=t.record.recipient,
            role=t.record.role,
            purpose=t.record.purpose,
            action=t.record.action,
            reasons=t.record.reasons,
            decision_id=t.record.decision_id,
        )
        for t in sorted(decisions, key=lambda t: t.recorded_at)
        if t.record.effect == "deny" and in_range(t.recorded_at, start, end)
    )


TABLE_COLUMNS = (
    "date",
    "last",
    "count",
    "recipient",
    "role",
    "purpose",
    "basis",
    "data",
    "relied on",
    "internal",
)


def table_cells(row: Row) -> tuple[str, ...]:
    """A row as the table and the CSV print it."""
    data = f"{','.join(row.categories) or '-'}: {row.element_count} elements, {row.record_count} records"
    relied = ",".join(row.agreements + row.consent_ids) or "-"
    return (
        row.first_date,
        row.last_date,
        str(row.count),
        row.recipient,
        row.recipient_role,
        row.purpose,
        ",".join(row.legal_basis) or "-",
        data,
        relied,
        "internal" if row.internal else "",
    )


def table(acc: Accounting) -> str:
    """The accounting as a readable fixed-width table, denials below for the officer."""
    body = [TABLE_COLUMNS, *(table_cells(r) for r in acc.rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(TABLE_COLUMNS))]
    lines = [f"Accounting of disclosures for {acc.student}" + (" (family copy)" if acc.family else "")]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in body]
    if not acc.rows:
        lines.append("(no disclosures)")
    if acc.denials:
        lines.append("Denied requests:")
        lines += [
            f"  {d.date}  {d.recipient} ({d.role}) {d.action} for {d.purpose}: {','.join(d.reasons) or '-'}"
            for d in acc.denials
        ]
    return "\n".join(lines)


CSV_COLUMNS = (*TABLE_COLUMNS, "flow", "sources", "decision ids", "disclosure ids")


def csv_rows(acc: Accounting) -> list[tuple[str, ...]]:
    """Header and rows for the CSV (the caller defuses formula cells with core/csv_safe)."""
    return [
        CSV_COLUMNS,
        *(
            (
                *table_cells(r),
                r.flow,
                ",".join(r.sources),
                ",".join(r.decision_ids),
                ",".join(r.disclosure_ids),
            )
            for r in acc.rows
        ),
    ]


def to_csv(acc: Accounting) -> str:
    """Every cell through core/csv_safe: an id chosen by a partner never becomes a formula.
    RFC 4180 line ends, so a cell holding a carriage return is quoted too."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv_rows(acc):
        writer.writerow(safe_row(row))
    return out.getvalue()
