"""The flow report: who sent what to whom, what was denied and why, and what needs attention.

Pure aggregation over values the service reads (audit entries of kind ``disclosure`` and
``decision`` through ``core.disclosure``, consents, agreement versions, retention standing).
The tables hold counts and the ids of organizations, agreements and consents, never a student
id: a report is meant to be shared with boards and partners. Rows are sorted so the same facts
always give the same report.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.disclosure import DecisionRecord, DisclosureRecord

PAIR, CATEGORY, PURPOSE = "pair", "category", "purpose"
GROUPINGS = (PAIR, CATEGORY, PURPOSE)
ENDING_WITHIN_DAYS = 60

# Denial reason codes, derived from the texts core.policy and core.consent write (see reason_code).
NO_AGREEMENT = "no-agreement"
NO_LEGAL_BASIS = "no-legal-basis"
CONSENT_DENIED = "consent-denied"
VOCABULARY = "vocabulary"
OTHER = "other"
REASON_CODES = (NO_AGREEMENT, NO_LEGAL_BASIS, CONSENT_DENIED, VOCABULARY, OTHER)
_CODES = (
    ("no active agreement", NO_AGREEMENT),
    ("no legal basis", NO_LEGAL_BASIS),
    ("consent ", CONSENT_DENIED),
    ("no valid consent", CONSENT_DENIED),
    ("signer role", CONSENT_DENIED),
    ("signed by the student", CONSENT_DENIED),
    ("42 cfr 2.14", CONSENT_DENIED),
    ("the student is 18", CONSENT_DENIED),
    ("birth date is unknown", CONSENT_DENIED),
    ("is not a registered partner", VOCABULARY),
    ("is not in the vocabulary", VOCABULARY),
    ("is not one the gateway performs", VOCABULARY),
    ("names no data category", VOCABULARY),
)


def reason_code(reason: str) -> str:
    """A stable code for a denial reason text (the texts name categories and organizations)."""
    text = reason.lower()
    for needle, code in _CODES:
        if needle in text:
            return code
    return OTHER


@dataclass(frozen=True, kw_only=True)
class Disclosed:
    day: dt.date
    record: DisclosureRecord


@dataclass(frozen=True, kw_only=True)
class Decided:
    day: dt.date
    record: DecisionRecord


@dataclass(frozen=True, kw_only=True)
class Emergency:
    """An emergency disclosure (FERPA 99.36) as the report lists it: no student, no threat text."""

    day: dt.date
    id: str
    sources: tuple[str, ...]
    recipient: str
    purpose: str
    categories: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ConsentFact:
    id: str
    status: str
    recorded_by: str
    signed: dt.date | None
    revoked: dt.date | None
    ends: dt.date | None  # provision.period.end


@dataclass(frozen=True, kw_only=True)
class AgreementFact:
    key: str
    id: str
    version: int
    state: str  # proposed | in-force | superseded | withdrawn
    parties: tuple[str, ...]
    unsigned_by: tuple[str, ...]  # parties whose signature a proposed version still lacks
    expires: dt.date | None


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    start: dt.date
    end: dt.date
    by: str
    disclosures: tuple[Disclosed, ...]
    decisions: tuple[Decided, ...]
    emergencies: tuple[Emergency, ...]
    consents: tuple[ConsentFact, ...]
    agreements: tuple[AgreementFact, ...]
    retention: Mapping[str, int]  # past-retention, past-retention-pending, purged


def _in(day: dt.date | None, start: dt.date, end: dt.date) -> bool:
    return day is not None and start <= day <= end


def _flow_keys(record: DisclosureRecord, by: str) -> list[tuple[str, ...]]:
    if by == PAIR:
        return [(s, record.recipient) for s in (record.sources or ("",))]
    if by == CATEGORY:
        return [(c,) for c in (record.categories or ("",))]
    return [(record.purpose,)]


_KEY_NAMES = {PAIR: ("source", "recipient"), CATEGORY: ("category",), PURPOSE: ("purpose",)}


def flows(disclosures: Iterable[Disclosed], by: str) -> list[dict[str, Any]]:
    count: Counter[tuple[str, ...]] = Counter()
    records: Counter[tuple[str, ...]] = Counter()
    kinds: dict[tuple[str, ...], Counter[str]] = {}
    for d in disclosures:
        for key in _flow_keys(d.record, by):
            count[key] += 1
            records[key] += d.record.record_count
            kinds.setdefault(key, Counter())[d.record.flow] += 1
    return [
        {
            **dict(zip(_KEY_NAMES[by], key, strict=True)),
            "disclosures": count[key],
            "records": records[key],
            "flows": dict(sorted(kinds[key].items())),
        }
        for key in sorted(count)
    ]


def denials(decisions: Iterable[Decided]) -> list[dict[str, Any]]:
    """Denied decisions by reason code, pair and purpose (one decision counts once per code)."""
    count: Counter[tuple[str, str, str, str]] = Counter()
    categories: dict[tuple[str, str, str, str], set[str]] = {}
    for d in decisions:
        if d.record.effect != "deny":
            continue
        for code in sorted({reason_code(r) for r in d.record.reasons} or {OTHER}):
            key = (code, d.record.source, d.record.recipient, d.record.purpose)
            count[key] += 1
            categories.setdefault(key, set()).update(d.record.categories)
    return [
        {
            "reason": key[0],
            "source": key[1],
            "recipient": key[2],
            "purpose": key[3],
            "denials": count[key],
            "categories": sorted(categories[key]),
        }
        for key in sorted(count)
    ]


def consents(facts: Iterable[ConsentFact], start: dt.date, end: dt.date) -> dict[str, list[str]]:
    facts = list(facts)
    return {
        "granted": sorted(c.id for c in facts if _in(c.signed, start, end)),
        "revoked": sorted(c.id for c in facts if _in(c.revoked, start, end)),
        "expired": sorted(c.id for c in facts if _in(c.ends, start, end) and c.revoked is None),
    }


def agreements(facts: Iterable[AgreementFact], end: dt.date) -> dict[str, list[dict[str, Any]]]:
    facts = sorted(facts, key=lambda a: (a.key, a.version))
    horizon = end + dt.timedelta(days=ENDING_WITHIN_DAYS)
    proposed = [a for a in facts if a.state == "proposed"]
    return {
        "proposed": [_agreement(a) for a in proposed],
        "unsigned": [{**_agreement(a), "unsignedBy": list(a.unsigned_by)} for a in proposed if a.unsigned_by],
        "ending": [
            {**_agreement(a), "expires": a.expires.isoformat()}
            for a in facts
            if a.state == "in-force" and a.expires is not None and end <= a.expires <= horizon
        ],
    }


def _agreement(a: AgreementFact) -> dict[str, Any]:
    return {"key": a.key, "id": a.id, "version": a.version, "parties": list(a.parties)}


def emergencies(items: Iterable[Emergency]) -> list[dict[str, Any]]:
    return [
        {
            "date": e.day.isoformat(),
            "id": e.id,
            "sources": list(e.sources),
            "recipient": e.recipient,
            "purpose": e.purpose,
            "categories": list(e.categories),
        }
        for e in sorted(items, key=lambda e: (e.day, e.id))
    ]


def build(data: ReportInput) -> dict[str, Any]:
    inside = [d for d in data.disclosures if _in(d.day, data.start, data.end)]
    decided = [d for d in data.decisions if _in(d.day, data.start, data.end)]
    return {
        "from": data.start.isoformat(),
        "to": data.end.isoformat(),
        "by": data.by,
        "totals": {
            "disclosures": len(inside),
            "records": sum(d.record.record_count for d in inside),
            "decisions": len(decided),
            "denials": sum(1 for d in decided if d.record.effect == "deny"),
            "emergencies": sum(1 for e in data.emergencies if _in(e.day, data.start, data.end)),
        },
        "flows": flows(inside, data.by),
        "denials": denials(decided),
        "consents": consents(data.consents, data.start, data.end),
        "agreements": agreements(data.agreements, data.end),
        "emergencies": emergencies(e for e in data.emergencies if _in(e.day, data.start, data.end)),
        "retention": dict(sorted(data.retention.items())),
    }
