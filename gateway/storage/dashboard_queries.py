"""Reads of the compliance dashboard and the flow report: the period's ``disclosure`` and
``decision`` entries with only the fields the figures count, and a drill-down's entries by kind
and time.

A flow's entry holds much the figures never read (rules, obligations, element ids, digests): a
decision entry is kilobytes of it. The figures' fields are extracted in SQL (JSON_EXTRACT on
SQLite, ``->``/``->>`` on PostgreSQL), so neither the rest is sent nor decoded. Both queries
select by ``recorded_at`` (its index serves the range) and kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.audit import AuditEntry
from gateway.storage.audit_store import ENTRY_COLUMNS, entry_of
from gateway.storage.tables import AuditEntryRow

# The details the flow report and the dashboard read (core.flow_report, core.dashboard): text
# and number fields come as plain values, lists as JSON. A key the entry lacks comes as NULL and
# is left out, so ``from_details`` gives its default as for the whole entry.
TEXT_FIELDS = (
    "disclosureId",
    "decisionId",
    "flow",
    "source",
    "recipient",
    "purpose",
    "effect",
    "emergencyThreatDigest",
)
NUMBER_FIELDS = ("recordCount",)
LIST_FIELDS = ("sources", "categories", "reasons")
FIELDS = (*TEXT_FIELDS, *NUMBER_FIELDS, *LIST_FIELDS)


def _columns() -> list[Any]:
    details = AuditEntryRow.details
    return [
        *(details[k].as_string() for k in TEXT_FIELDS),
        *(details[k].as_integer() for k in NUMBER_FIELDS),
        *(details[k] for k in LIST_FIELDS),
    ]


Counted = tuple[str, str, dict[str, Any]]  # recorded_at, kind, the counted fields of details


def counted_entries(session: Session, kinds: Sequence[str], start: str, end: str) -> list[Counted]:
    """(recorded_at, kind, the counted fields of details) of entries of ``kinds`` with
    ``start <= recorded_at < end`` (ISO timestamps compare as text), in seq order."""
    query = (
        select(AuditEntryRow.recorded_at, AuditEntryRow.kind, *_columns())
        .where(AuditEntryRow.recorded_at >= start, AuditEntryRow.recorded_at < end)
        .where(AuditEntryRow.kind.in_(kinds))
        .order_by(AuditEntryRow.seq)
    )
    found = []
    for row in session.execute(query):
        values = zip(FIELDS, row[2:], strict=True)
        found.append((row[0], row[1], {k: v for k, v in values if v is not None}))
    return found


def entries_in(session: Session, kinds: Sequence[str], start: str, end: str) -> Iterator[AuditEntry]:
    """Whole entries of ``kinds`` with ``start <= recorded_at < end``, in seq order (a drill-down's
    candidates: the range, not the whole log)."""
    query = (
        select(*ENTRY_COLUMNS)
        .where(AuditEntryRow.recorded_at >= start, AuditEntryRow.recorded_at < end)
        .where(AuditEntryRow.kind.in_(kinds))
        .order_by(AuditEntryRow.seq)
    )
    for row in session.execute(query):
        yield entry_of(row)
