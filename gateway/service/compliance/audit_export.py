"""Audit entries as FHIR AuditEvents for a reader: streamed in seq order, paged by seq.

The entries come straight from ``audit_entries`` (``yield_per`` batches, plain rows), filtered
in SQL by seq cursor, kind, student and ``recorded_at`` (ISO text in one format, indexed, so
text comparison is time order), and by the reader's scope in Python (a partner sees only the
decisions and disclosures it is the source or recipient of; the details are JSON). Memory is
bounded by the batch, whatever the range. Every export is itself audited (``record_read``)
before the first event is answered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.core.audit import AuditEntry
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord
from gateway.errors import InputInvalid, Issue
from gateway.formats.fhir_audit_event import audit_event
from gateway.service.compliance.audit_access import AuditReader, record_read
from gateway.service.runtime import Runtime
from gateway.storage import audit_export_queries as queries
from gateway.storage.audit_export_queries import DateBound

PATTERN_KINDS = (DECISION, DISCLOSURE)
BATCH = 500
_PREFIXES = ("ge", "gt", "le", "lt", "eq")


@dataclass(frozen=True, kw_only=True)
class ExportQuery:
    dates: tuple[DateBound, ...] = ()
    kinds: tuple[str, ...] = PATTERN_KINDS  # () means every kind
    student: str | None = None
    after_seq: int = 0
    seq: int | None = None  # one entry only (a read by id)


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def parse_date(raw: str, where: str = "date") -> DateBound:
    """A FHIR date search value (``ge2026-01-01``, ``lt2026-12-03T10:00:00Z``) as a range."""
    op, text = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
        else:
            start = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if start.tzinfo is None:
                raise ValueError("no time zone")
            end = start + dt.timedelta(microseconds=1)
    except (ValueError, OverflowError):
        raise InputInvalid(
            "invalid date parameter",
            [
                Issue(
                    path=where,
                    message="a date (YYYY-MM-DD) or an instant with a time zone, after ge, gt, le, lt or eq",
                )
            ],
        ) from None
    return DateBound(op=op, start=_instant(start), end=_instant(end))


def visible(reader: AuditReader, entry: AuditEntry) -> bool:
    if reader.sees_all:
        return True
    org = reader.organization_id
    if entry.kind == DISCLOSURE:
        return reader.may_see(DisclosureRecord.from_details(entry.details))
    if entry.kind == DECISION:
        rec = DecisionRecord.from_details(entry.details)
        return org in (rec.source, rec.recipient)
    return False  # lifecycle entries belong to the gateway's operators


def entries(rt: Runtime, reader: AuditReader, query: ExportQuery) -> Generator[AuditEntry]:
    """The entries ``reader`` may see that match ``query``, in seq order, batch by batch."""
    kinds = [query.kinds] if query.kinds else []
    if not reader.sees_all:
        kinds.append(PATTERN_KINDS)
    where = queries.EntryFilter(
        after_seq=query.after_seq,
        dates=query.dates,
        kinds=tuple(kinds),
        subject=query.student,
        seq=query.seq,
    )
    with (
        rt.sessions() as session,
        contextlib.closing(queries.filtered_entries(session, where, batch=BATCH)) as found,
    ):
        # the generator, and so its result, is closed before the session
        for entry in found:
            if visible(reader, entry):
                yield entry


def audit_export(rt: Runtime, reader: AuditReader, query: ExportQuery, *, fmt: str) -> None:
    """Audit the read (fail closed) before any event is produced."""
    record_read(
        rt,
        reader,
        "export",
        {
            "format": fmt,
            "student": query.student or "",
            "dates": [f"{b.op}{b.start}" for b in query.dates],
            "kinds": list(query.kinds),
            "afterSeq": query.after_seq,
            "seq": query.seq,
        },
    )


def events(rt: Runtime, reader: AuditReader, query: ExportQuery) -> Iterator[dict[str, Any]]:
    for entry in entries(rt, reader, query):
        yield audit_event(entry)


def page(
    rt: Runtime, reader: AuditReader, query: ExportQuery, count: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``count`` events and the cursor (last seq) of the next page, None at the end."""
    found: list[dict[str, Any]] = []
    last = None
    # closed here, not by the garbage collector: on PostgreSQL yield_per holds a server-side
    # cursor, which must go before its connection does
    with contextlib.closing(entries(rt, reader, query)) as stream:
        for entry in stream:
            if len(found) == count:
                return found, last
            found.append(audit_event(entry))
            last = entry.seq
    return found, None
