"""The decision and disclosure audit entries, built in one place for every flow.

Each policy decision is audited once (kind ``decision``, deduplicated by decision id within
the drafts a transaction writes) and, when data moves, one ``disclosure`` entry per flow and
student (gateway/core/disclosure.py). Plan reads and exports, emergency reads and the delivery
worker's accepted referrals all call these builders, so the accounting of disclosures, the
AuditEvent export and the flow reports read one shape. Ids, codes and digests only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.disclosure import (
    DECISION,
    DISCLOSURE,
    INBOUND,
    REFERRAL,
    DecisionRecord,
    DisclosureRecord,
    agreements_of,
)
from gateway.core.policy import Decision
from gateway.service.compliance import audit
from gateway.storage.tables import Delivery

GATEWAY = "gateway"  # the recipient of inbound flows: the gateway, acting for its parties


@dataclass(frozen=True, kw_only=True)
class Asked:
    """Who asked for what, as a decision entry names it."""

    action: str
    source: str
    recipient: str
    role: str
    purpose: str
    categories: tuple[str, ...]


def consent_ids_of(rules: Iterable[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for rule in rules:
        if rule.startswith("consent:"):
            found.setdefault(rule.split(":", 1)[1].split("#", 1)[0], None)
    return tuple(found)


def decision_record(decision: Decision, asked: Asked) -> DecisionRecord:
    return DecisionRecord(
        decision_id=decision.decision_id,
        effect=decision.effect,
        action=asked.action,
        source=asked.source,
        recipient=asked.recipient,
        role=asked.role,
        purpose=asked.purpose,
        categories=asked.categories,
        basis=decision.basis,
        obligations=tuple(dict(o) for o in decision.obligations),
        rules=decision.matched_rules,
        reasons=decision.reasons,
        policy_version=decision.policy_version,
        agreements=agreements_of(decision.matched_rules),
        consent_ids=consent_ids_of(decision.matched_rules),
    )


def decision_drafts(
    decided: Sequence[tuple[Decision, Asked]], *, actor: str, subject: str, seen: set[str] | None = None
) -> list[audit.AuditDraft]:
    """One ``decision`` entry per decision id; ``seen`` carries the ids already written."""
    written = seen if seen is not None else set()
    drafts = []
    for decision, asked in decided:
        if decision.decision_id in written:
            continue
        written.add(decision.decision_id)
        drafts.append(
            audit.AuditDraft(
                kind=DECISION,
                actor=actor,
                subject=subject,
                details=decision_record(decision, asked).to_details(),
            )
        )
    return drafts


def element_decision_drafts(
    decisions: Mapping[Any, Decision],  # ElementKey: (source organization, category, ...)
    *,
    action: str,
    recipient: str,
    role: str,
    purpose: str,
    actor: str,
    subject: str,
) -> list[audit.AuditDraft]:
    """The decision entries of a plan-shaped disclosure (a read, an export, a referral's body):
    its decisions are keyed by (source organization, category, ...)."""
    decided = [
        (
            d,
            Asked(
                action=action,
                source=key[0],
                recipient=recipient,
                role=role,
                purpose=purpose,
                categories=(key[1],),
            ),
        )
        for key, d in sorted(decisions.items(), key=lambda kd: kd[1].decision_id)
    ]
    return decision_drafts(decided, actor=actor, subject=subject)


@dataclass(frozen=True, kw_only=True)
class Grounds:
    """What a referral (queued, or one attempt decided at its claim) rests on: named in the audit,
    never in the body."""

    decision_ids: tuple[str, ...]
    policy_version: str
    basis: tuple[str, ...]
    consent_ids: tuple[str, ...]
    rules: tuple[str, ...] = ()  # the permits' matched rules: the agreement versions relied on


def delivery_details(row: Delivery, grounds: Grounds) -> dict[str, Any]:
    """A referral's lifecycle entries (queued, attempted, failed, delivered) name it this way, from
    the delivery service and the worker alike: ids, codes and digests only."""
    return {
        "deliveryId": row.id,
        "source": row.source_org,
        "recipient": row.recipient_org,
        "purpose": row.purpose,
        "role": row.role,
        "categories": list(row.categories),
        "basis": list(grounds.basis),
        "consentIds": list(grounds.consent_ids),
        "decisions": list(grounds.decision_ids),
        "agreements": list(agreements_of(grounds.rules)),
        "policyVersion": grounds.policy_version,
        "payloadDigest": row.body_digest,
        "idempotencyKey": row.idempotency_key,
    }


def disclosure_draft(record: DisclosureRecord, *, actor: str, subject: str) -> audit.AuditDraft:
    return audit.AuditDraft(kind=DISCLOSURE, actor=actor, subject=subject, details=record.to_details())


def plan_record(
    *,
    flow: str,
    student_id: str,
    recipient: str,
    role: str,
    actor: str,
    purpose: str,
    elements: Sequence[tuple[str, str, str]],  # (element id, source, category) disclosed
    permitted: Sequence[Decision],
    policy_version: str,
    emergency_reason: str = "",
) -> DisclosureRecord:
    """A plan read or export that showed something: what it showed and what that rested on."""
    rules = [r for d in permitted for r in d.matched_rules]
    ids = sorted(e[0] for e in elements)
    return DisclosureRecord(
        disclosure_id="dis-"
        + digest([flow, student_id, recipient, actor, ids, [d.decision_id for d in permitted]])[-24:],
        flow=flow,
        sources=tuple(sorted({e[1] for e in elements})),
        recipient=recipient,
        recipient_role=role,
        actor=actor,
        purpose=purpose,
        legal_basis=tuple(sorted({b for d in permitted for b in d.basis})),
        categories=tuple(sorted({e[2] for e in elements})),
        elements=tuple(ids),
        record_count=len(ids),
        payload_digest=digest(ids),
        redactions=(),
        agreements=agreements_of(rules),
        consent_ids=consent_ids_of(rules),
        decision_ids=tuple(sorted({d.decision_id for d in permitted})),
        policy_version=policy_version,
        # 34 CFR 99.32(a)(5): the threat is recorded; the audit keeps its digest, not its words.
        emergency_threat_digest=digest(emergency_reason) if emergency_reason else None,
        extra={"flags": ["ferpa-99.36-emergency"]} if purpose == "emergency" else {},
    )


def referral_record(row: Delivery, grounds: Grounds, *, disclosed_at: str, attempt: int) -> DisclosureRecord:
    """A referral the agency accepted, from the same row and grounds as ``delivery_details``."""
    return DisclosureRecord(
        disclosure_id=row.id,
        flow=REFERRAL,
        sources=(row.source_org,),
        recipient=row.recipient_org,
        recipient_role=row.role,
        actor="delivery-worker",
        purpose=row.purpose,
        legal_basis=grounds.basis,
        categories=tuple(row.categories),
        elements=(),  # the worker knows the body by digest only; its categories name what went
        record_count=1,
        payload_digest=row.body_digest,
        redactions=(),
        agreements=agreements_of(grounds.rules),
        consent_ids=grounds.consent_ids,
        decision_ids=grounds.decision_ids,
        policy_version=grounds.policy_version,
        disclosed_at=disclosed_at,
        extra={"attempt": attempt},
    )


@dataclass(frozen=True, kw_only=True)
class Received:
    """What one inbound exchange brought about one student."""

    student_id: str
    source: str
    message_id: str
    payload_digest: str
    records: int
    decision_ids: tuple[str, ...]
    policy_version: str


def inbound_draft(r: Received) -> audit.AuditDraft:
    """The source disclosed records to the gateway, which holds them for its parties (internal in
    the accounting). Written with the exchange's summary entry, in the same ``audit.record`` call."""
    record = DisclosureRecord(
        disclosure_id=f"{r.message_id}:{r.student_id}",
        flow=INBOUND,
        sources=(r.source,),
        recipient=GATEWAY,
        recipient_role=GATEWAY,
        actor=r.source,
        purpose="ingest",
        legal_basis=(),
        categories=(),
        elements=(),
        record_count=r.records,
        payload_digest=r.payload_digest,
        redactions=(),
        agreements=(),
        consent_ids=(),
        decision_ids=r.decision_ids,
        policy_version=r.policy_version,
        extra={"messageId": r.message_id},
    )
    return disclosure_draft(record, actor=r.source, subject=r.student_id)
