"""The two audit entries every flow writes, built in one place.

- a **decision** entry per policy decision (kind ``decision``): permit or deny, the legal basis,
  the obligations, the policy and agreement versions and the decision id. Written once per
  decision id, whatever flow asked for it.
- a **disclosure** entry when data moves (kind ``disclosure``), one per flow and student: who
  sent what to whom, why, on what basis, and which decisions, agreement versions and consents it
  relied on.

Both hold identifiers, codes and digests only: element ids, never element values; a digest of
the emergency threat, never its words. The accounting of disclosures, the FHIR AuditEvent export
and the flow reports all read these entries through ``from_details``, so the fields have one
meaning everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DECISION = "decision"
DISCLOSURE = "disclosure"

# What kind of flow moved the data.
PLAN_READ = "plan.read"  # an actor of a partner read part of a plan
PLAN_EXPORT = "plan.export"  # a partner took a copy of a plan
REFERRAL = "referral"  # the delivery worker sent a consented referral to an agency
INBOUND = "inbound"  # a partner sent records about the student to the gateway
FHIR_READ = "fhir.read"  # a partner read or searched resources another organization sent
FLOWS = (PLAN_READ, PLAN_EXPORT, REFERRAL, INBOUND, FHIR_READ)


def _strs(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def agreements_of(rules: Iterable[str]) -> tuple[str, ...]:
    """The ``id@version`` of each agreement a decision's matched rules cite, in order, once.

    Rules look like ``gbisd-northside-2026@1#schedule.grand-bend-isd.sends.referral``; consent
    rules (``consent:...``) and ``own-record`` cite no agreement."""
    found: dict[str, None] = {}
    for rule in rules:
        head = rule.split("#", 1)[0]
        if "@" in head and not head.startswith(("consent:", "own-record")):
            found.setdefault(head, None)
    return tuple(found)


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    """One policy decision as the audit keeps it."""

    decision_id: str
    effect: str  # permit | deny
    action: str  # ingest | read | disclose | export | aggregate
    source: str
    recipient: str
    role: str
    purpose: str
    categories: tuple[str, ...]
    basis: tuple[str, ...]
    obligations: tuple[Mapping[str, Any], ...]
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    policy_version: str
    agreements: tuple[str, ...]  # id@version of every agreement the decision cites
    consent_ids: tuple[str, ...] = ()

    def to_details(self) -> dict[str, Any]:
        return {
            "decisionId": self.decision_id,
            "effect": self.effect,
            "action": self.action,
            "source": self.source,
            "recipient": self.recipient,
            "role": self.role,
            "purpose": self.purpose,
            "categories": list(self.categories),
            "basis": list(self.basis),
            "obligations": [_obligation_for_audit(o) for o in self.obligations],
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "policyVersion": self.policy_version,
            "agreements": list(self.agreements),
            "consentIds": list(self.consent_ids),
        }

    @classmethod
    def from_details(cls, d: Mapping[str, Any]) -> DecisionRecord:
        return cls(
            decision_id=str(d.get("decisionId", "")),
            effect=str(d.get("effect", "")),
            action=str(d.get("action", "")),
            source=str(d.get("source", "")),
            recipient=str(d.get("recipient", "")),
            role=str(d.get("role", "")),
            purpose=str(d.get("purpose", "")),
            categories=_strs(d.get("categories", ())),
            basis=_strs(d.get("basis", ())),
            obligations=tuple(dict(o) for o in d.get("obligations", ())),
            rules=_strs(d.get("rules", ())),
            reasons=_strs(d.get("reasons", ())),
            policy_version=str(d.get("policyVersion", "")),
            agreements=_strs(d.get("agreements", ())),
            consent_ids=_strs(d.get("consentIds", ())),
        )


def _obligation_for_audit(obligation: Mapping[str, Any]) -> dict[str, Any]:
    # A notice's text is the same for everyone and long: the audit names it, not repeats it.
    return {k: v for k, v in obligation.items() if k != "text"}


@dataclass(frozen=True, kw_only=True)
class DisclosureRecord:
    """Data that moved: one flow, one student, one recipient."""

    disclosure_id: str  # the delivery id, or an id derived from the flow
    flow: str  # one of FLOWS
    sources: tuple[str, ...]  # the organizations whose records went
    recipient: str
    recipient_role: str
    actor: str  # who at the recipient asked (a staff id or system name), or the worker
    purpose: str
    legal_basis: tuple[str, ...]
    categories: tuple[str, ...]
    elements: tuple[str, ...]  # element ids (or source record digests inbound), never values
    record_count: int
    payload_digest: str
    redactions: tuple[str, ...]  # element ids withheld from the recipient (redact, keep-only)
    agreements: tuple[str, ...]  # id@version relied on
    consent_ids: tuple[str, ...]
    decision_ids: tuple[str, ...]
    policy_version: str
    emergency_threat_digest: str | None = None
    disclosed_at: str | None = None  # when the bytes reached the recipient, if not the entry's time
    extra: Mapping[str, Any] = field(default_factory=dict)  # flow-specific ids (message, attempt)

    def to_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "disclosureId": self.disclosure_id,
            "flow": self.flow,
            "sources": list(self.sources),
            "recipient": self.recipient,
            "recipientRole": self.recipient_role,
            "actor": self.actor,
            "purpose": self.purpose,
            "legalBasis": list(self.legal_basis),
            "categories": list(self.categories),
            "elements": list(self.elements),
            "recordCount": self.record_count,
            "payloadDigest": self.payload_digest,
            "redactions": list(self.redactions),
            "agreements": list(self.agreements),
            "consentIds": list(self.consent_ids),
            "decisionIds": list(self.decision_ids),
            "policyVersion": self.policy_version,
            "emergencyThreatDigest": self.emergency_threat_digest,
            "disclosedAt": self.disclosed_at,
        }
        if self.extra:
            details["extra"] = dict(self.extra)
        return details

    @classmethod
    def from_details(cls, d: Mapping[str, Any]) -> DisclosureRecord:
        threat = d.get("emergencyThreatDigest")
        disclosed_at = d.get("disclosedAt")
        return cls(
            disclosure_id=str(d.get("disclosureId", "")),
            flow=str(d.get("flow", "")),
            sources=_strs(d.get("sources", ())),
            recipient=str(d.get("recipient", "")),
            recipient_role=str(d.get("recipientRole", "")),
            actor=str(d.get("actor", "")),
            purpose=str(d.get("purpose", "")),
            legal_basis=_strs(d.get("legalBasis", ())),
            categories=_strs(d.get("categories", ())),
            elements=_strs(d.get("elements", ())),
            record_count=int(d.get("recordCount", 0)),
            payload_digest=str(d.get("payloadDigest", "")),
            redactions=_strs(d.get("redactions", ())),
            agreements=_strs(d.get("agreements", ())),
            consent_ids=_strs(d.get("consentIds", ())),
            decision_ids=_strs(d.get("decisionIds", ())),
            policy_version=str(d.get("policyVersion", "")),
            emergency_threat_digest=str(threat) if threat else None,
            disclosed_at=str(disclosed_at) if disclosed_at else None,
            extra=dict(d.get("extra", {})),
        )

    def involves(self, organization: str) -> bool:
        """Whether ``organization`` made (as a source) or received this disclosure."""
        return organization == self.recipient or organization in self.sources
