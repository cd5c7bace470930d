"""The compliance dashboard's figures, their drill-down selectors, and each entry's verification.

Pure shaping over the flow report's facts (``core.flow_report.ReportInput``): the same tables
the report builds, narrowed to one organization when the officer asks (the rule a partner's
report follows: flows it made or received, decisions naming it, consents it recorded,
agreements it is a party to, copies it sent or was sent), a time series of disclosures and
denials, and for every figure a ``Selector`` that names exactly the audit entries the figure
counted, so a drill-down lists those entries and nothing else. Ids, codes and counts only.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.core import flow_report as fr
from gateway.core.csv_safe import safe_row
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord

# The figures a drill-down can name.
FLOWS, DENIALS, EMERGENCIES = "flows", "denials", "emergencies"
CONSENTS, AGREEMENTS, RETENTION = "consents", "agreements", "retention"
FIGURES = (FLOWS, DENIALS, EMERGENCIES, CONSENTS, AGREEMENTS, RETENTION)
CONSENT_STATES = ("granted", "revoked", "expired")
AGREEMENT_STATES = ("unsigned", "ending")
RETENTION_STATES = ("past-retention", "past-retention-pending", "purged")
STATES = {CONSENTS: CONSENT_STATES, AGREEMENTS: AGREEMENT_STATES, RETENTION: RETENTION_STATES}

# Verification status of one entry (see ``entry_status``).
VERIFIED, UNSIGNED, UNPROVEN, BROKEN = "verified", "unsigned", "unproven", "broken"
_ENTRY_BREAKS = frozenset({"edited", "reordered", "broken-link"})
# An "edited" break at a head's size may be the entry or the head's tree: either way that head
# proves nothing. The service names a tree that differs from its signed root "checkpoint-mismatch".
CHECKPOINT_MISMATCH = "checkpoint-mismatch"
_HEAD_BREAKS = frozenset({"edited", CHECKPOINT_MISMATCH, "fork", "forged-checkpoint", "deleted-checkpoint"})

DAY, WEEK, MONTH = "day", "week", "month"


@dataclass(frozen=True, kw_only=True)
class Selector:
    """One figure of the dashboard: which audit entries it counted.

    A ``None`` field matches anything; ``""`` matches only an empty value (a flow without a
    category is counted under the empty category, and its drill-down must find exactly it)."""

    figure: str
    start: dt.date
    end: dt.date
    organization: str = ""
    source: str | None = None
    recipient: str | None = None
    category: str | None = None
    purpose: str | None = None
    reason: str | None = None
    state: str | None = None
    item: str | None = None  # one consent id, agreement key@version or copy id

    def to_query(self) -> dict[str, str]:
        """The selector as query parameters (what the dashboard's links carry)."""
        query = {"figure": self.figure, "from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.organization:
            query["organization"] = self.organization
        for name in ("source", "recipient", "category", "purpose", "reason", "state", "item"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value
        return query


@dataclass(frozen=True, kw_only=True)
class Bucket:
    start: dt.date
    end: dt.date
    label: str
    disclosures: int
    records: int
    denials: int


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    start: dt.date
    end: dt.date
    organization: str
    granularity: str
    report: Mapping[str, Any]  # core.flow_report.build, grouped by pair
    by_category: tuple[Mapping[str, Any], ...]
    by_purpose: tuple[Mapping[str, Any], ...]
    series: tuple[Bucket, ...]
    retention: tuple[Mapping[str, Any], ...]  # copies past retention, pending or purged
    retention_counts: Mapping[str, int]
    organizations: tuple[str, ...]  # every organization the period's facts name (the filter's choices)


# -- narrowing to one organization ------------------------------------------------------------


def narrow(data: fr.ReportInput, organization: str) -> fr.ReportInput:
    """The facts that concern ``organization`` (all of them for ``""``)."""
    if not organization:
        return data
    return replace(
        data,
        disclosures=tuple(d for d in data.disclosures if d.record.involves(organization)),
        decisions=tuple(d for d in data.decisions if _names(d.record, organization)),
        emergencies=tuple(e for e in data.emergencies if _emergency_involves(e, organization)),
        consents=tuple(c for c in data.consents if c.recorded_by == organization),
        agreements=tuple(a for a in data.agreements if organization in a.parties),
    )


def _names(decision: DecisionRecord, organization: str) -> bool:
    return organization in (decision.source, decision.recipient)


def _emergency_involves(e: fr.Emergency, organization: str) -> bool:
    return organization == e.recipient or organization in e.sources


def copy_involves(copy: Mapping[str, Any], organization: str) -> bool:
    return not organization or organization in (copy.get("source"), copy.get("recipient"))


# -- the dashboard ----------------------------------------------------------------------------


def build(data: fr.ReportInput, copies: Iterable[Mapping[str, Any]], organization: str) -> Dashboard:
    """The dashboard over ``data`` (read for the whole gateway) and the retention ``copies``."""
    mine = narrow(data, organization)
    report = fr.build(replace(mine, by=fr.PAIR))
    inside = [d for d in mine.disclosures if data.start <= d.day <= data.end]
    shown = tuple(c for c in copies if copy_involves(c, organization))
    return Dashboard(
        start=data.start,
        end=data.end,
        organization=organization,
        granularity=granularity(data.start, data.end),
        report=report,
        by_category=tuple(fr.flows(inside, fr.CATEGORY)),
        by_purpose=tuple(fr.flows(inside, fr.PURPOSE)),
        series=series(mine, granularity(data.start, data.end)),
        retention=shown,
        retention_counts={s: sum(1 for c in shown if c.get("standing") == s) for s in RETENTION_STATES},
        organizations=known_organizations(data),
    )


def known_organizations(data: fr.ReportInput) -> tuple[str, ...]:
    found = {o for a in data.agreements for o in a.parties}
    found |= {o for d in data.disclosures for o in (*d.record.sources, d.record.recipient)}
    found |= {o for d in data.decisions for o in (d.record.source, d.record.recipient)}
    return tuple(sorted(found - {""}))


def granularity(start: dt.date, end: dt.date) -> str:
    """Days for a month or so, weeks up to half a year, months beyond (a readable number of bars)."""
    days = (end - start).days + 1
    return DAY if days <= 31 else WEEK if days <= 183 else MONTH


def _bucket_start(day: dt.date, unit: str) -> dt.date:
    if unit == DAY:
        return day
    if unit == WEEK:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: dt.date, unit: str) -> dt.date:
    if unit == DAY:
        return start + dt.timedelta(days=1)
    if unit == WEEK:
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _spans(start: dt.date, end: dt.date, unit: str) -> list[tuple[dt.date, dt.date]]:
    """The buckets covering start..end, clipped to the period (a drill-down's dates are exact)."""
    spans, low = [], _bucket_start(start, unit)
    while low <= end:
        high = _next(low, unit)
        spans.append((max(low, start), min(high - dt.timedelta(days=1), end)))
        low = high
    return spans


def series(data: fr.ReportInput, unit: str) -> tuple[Bucket, ...]:
    """Disclosures, their records and denials per bucket of the period (empty buckets included).
    Each fact is put in its bucket by bisection: one pass over the facts, however many buckets."""
    spans = _spans(data.start, data.end, unit)
    lows = [low for low, _high in spans]
    disclosures, records, denials = [0] * len(spans), [0] * len(spans), [0] * len(spans)
    for d in data.disclosures:
        at = _bucket_of(lows, spans, d.day)
        if at is not None:
            disclosures[at] += 1
            records[at] += d.record.record_count
    for c in data.decisions:
        at = _bucket_of(lows, spans, c.day)
        if at is not None and c.record.effect == "deny":
            denials[at] += 1
    return tuple(
        Bucket(
            start=low,
            end=high,
            label=_label(low, unit),
            disclosures=disclosures[i],
            records=records[i],
            denials=denials[i],
        )
        for i, (low, high) in enumerate(spans)
    )


def _bucket_of(lows: list[dt.date], spans: list[tuple[dt.date, dt.date]], day: dt.date) -> int | None:
    """The index of the span holding ``day``, or None when the day is outside the period."""
    at = bisect.bisect_right(lows, day) - 1
    return at if at >= 0 and day <= spans[at][1] else None


def _label(day: dt.date, unit: str) -> str:
    return day.strftime("%Y-%m") if unit == MONTH else day.isoformat()


# -- drill-down: the entries a figure counted -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Items:
    """What the item figures (consents, agreements, copies) counted, for their drill-downs:
    consent ids, agreement ``key@version`` and copy ids, by state."""

    consents: Mapping[str, tuple[str, ...]]
    agreements: Mapping[str, tuple[str, ...]]
    copies: Mapping[str, tuple[str, ...]]

    def of(self, selector: Selector) -> frozenset[str]:
        table = {CONSENTS: self.consents, AGREEMENTS: self.agreements, RETENTION: self.copies}[
            selector.figure
        ]
        states = [selector.state] if selector.state else list(table)
        found = {i for s in states for i in table.get(s, ())}
        return frozenset(found & {selector.item} if selector.item is not None else found)


def items_of(dashboard: Dashboard) -> Items:
    report = dashboard.report
    agreements = {
        state: tuple(f"{a['key']}@{a['version']}" for a in report["agreements"][state])
        for state in AGREEMENT_STATES
    }
    copies = {
        state: tuple(str(c["id"]) for c in dashboard.retention if c.get("standing") == state)
        for state in RETENTION_STATES
    }
    consents = {state: tuple(report["consents"][state]) for state in CONSENT_STATES}
    return Items(consents=consents, agreements=agreements, copies=copies)


def _match(wanted: str | None, value: str) -> bool:
    return wanted is None or wanted == value


def _in(selector: Selector, day: dt.date) -> bool:
    return selector.start <= day <= selector.end


def counts_disclosure(selector: Selector, day: dt.date, record: DisclosureRecord) -> bool:
    """Whether a ``flows`` or ``emergencies`` figure counted this disclosure entry."""
    if not _in(selector, day) or (selector.organization and not record.involves(selector.organization)):
        return False
    if selector.figure == EMERGENCIES:
        return bool(record.emergency_threat_digest) and _match(selector.item, record.disclosure_id)
    sources = record.sources or ("",)
    categories = record.categories or ("",)
    return (
        (selector.source is None or selector.source in sources)
        and _match(selector.recipient, record.recipient)
        and (selector.category is None or selector.category in categories)
        and _match(selector.purpose, record.purpose)
    )


def counts_decision(selector: Selector, day: dt.date, record: DecisionRecord) -> bool:
    """Whether the ``denials`` figure counted this decision entry."""
    if record.effect != "deny" or not _in(selector, day):
        return False
    if selector.organization and not _names(record, selector.organization):
        return False
    codes = {fr.reason_code(r) for r in record.reasons} or {fr.OTHER}
    return (
        (selector.reason is None or selector.reason in codes)
        and _match(selector.source, record.source)
        and _match(selector.recipient, record.recipient)
        and _match(selector.purpose, record.purpose)
    )


def names_item(figure: str, kind: str, details: Mapping[str, Any], items: frozenset[str]) -> bool:
    """Whether a lifecycle entry records one of the counted consents, agreement versions or copies."""
    if figure == CONSENTS:
        return kind.startswith("consent.") and str(details.get("consentId")) in items
    if figure == AGREEMENTS:
        named = f"{details.get('agreementId')}@{details.get('version')}"
        return kind.startswith("agreement.") and named in items
    ids = {str(details.get("messageId", "")), str(details.get("deliveryId", ""))}
    ids |= {str(c.get("id", "")) for c in details.get("copies", ()) if isinstance(c, Mapping)}
    return bool(ids & items)


def counted(selector: Selector, kind: str, day: dt.date, details: Mapping[str, Any]) -> bool:
    """Whether the entry (its kind, day and details) is one the selector's figure counted;
    ``items`` figures are matched by ``names_item`` instead."""
    if selector.figure in (FLOWS, EMERGENCIES):
        return kind == DISCLOSURE and counts_disclosure(selector, day, DisclosureRecord.from_details(details))
    if selector.figure == DENIALS:
        return kind == DECISION and counts_decision(selector, day, DecisionRecord.from_details(details))
    return False


def first_per_disclosure(entries: Sequence[Any], selector: Selector) -> list[Any]:
    """Emergencies count once per disclosure id (the report's rule): keep each id's first entry.
    ``entries`` carry ``details``; other figures are returned as they are."""
    if selector.figure != EMERGENCIES:
        return list(entries)
    seen: set[str] = set()
    kept = []
    for entry in entries:
        key = str(entry.details.get("disclosureId", ""))
        if key not in seen:
            seen.add(key)
            kept.append(entry)
    return kept


# -- verification of one entry ----------------------------------------------------------------


def entry_status(seq: int, breaks: Iterable[tuple[int, str]], heads: Sequence[int]) -> str:
    """Whether entry ``seq`` verifies, from one pass of the chain verifier (``breaks``: seq and
    kind of each break it found) and the sizes of the log's signed heads (``heads``).

    - ``broken``: the verifier found this entry edited, moved, or not linked to its predecessor;
    - ``verified``: its content hashes to its chain hash, and a signed head at or after it checked
      out (the tree recomputed at that size has the signed root, so the entry is included in
      what the audit key signed);
    - ``unsigned``: intact, but after the newest signed head: nothing outside the database vouches
      for it yet;
    - ``unproven``: intact, but every signed head covering it failed its check (a deletion or
      edit elsewhere changed the tree those heads signed).
    """
    found = list(breaks)
    if any(s == seq and kind in _ENTRY_BREAKS for s, kind in found):
        return BROKEN
    bad_heads = {s for s, kind in found if kind in _HEAD_BREAKS}
    covering = [h for h in heads if h >= seq]
    if not covering:
        return UNSIGNED
    return VERIFIED if any(h not in bad_heads for h in covering) else UNPROVEN


# -- CSV --------------------------------------------------------------------------------------


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table as CSV, every cell through core/csv_safe (a partner's id never becomes a formula)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
    return out.getvalue()
