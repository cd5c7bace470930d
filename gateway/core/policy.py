"""The policy decision point: ``decide(request, policy, now)``.

Default deny. A permit needs a named legal basis; here (the spine) the basis is an
agreement clause: an active data-sharing agreement between the parties whose schedule
covers every requested data category in the requested direction, for the stated purpose and
recipient role. Deny overrides: one uncovered category denies the whole request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.core.canonical import digest
from gateway.core.ids import derive_id

PERMIT = "permit"
DENY = "deny"

# What an action means for the agreement schedule of the source and of the recipient.
INBOUND = "ingest"  # a partner sends records about a student to the gateway
READ = "read"  # an actor of a partner reads (part of) a plan
DISCLOSE = "disclose"  # the gateway sends records to a partner (referral, export)


@dataclass(frozen=True, kw_only=True)
class ScheduleEntry:
    party: str
    sends: frozenset[str]
    receives: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class Agreement:
    id: str
    version: int
    parties: frozenset[str]
    status: str  # draft | active | suspended | terminated
    effective: dt.date
    expires: dt.date | None
    schedule: tuple[ScheduleEntry, ...]
    purposes: frozenset[str]
    recipient_roles: frozenset[str]
    retention_days: int | None = None

    def entry_for(self, party: str) -> ScheduleEntry | None:
        return next((e for e in self.schedule if e.party == party), None)

    def in_force(self, today: dt.date) -> bool:
        return (
            self.status == "active"
            and self.effective <= today
            and (self.expires is None or today <= self.expires)
        )


@dataclass(frozen=True, kw_only=True)
class PolicySet:
    organizations: frozenset[str]
    agreements: tuple[Agreement, ...]
    purposes: frozenset[str]
    roles: frozenset[str]
    categories: frozenset[str]

    @property
    def version(self) -> str:
        parts = sorted(f"{a.id}@{a.version}:{a.status}" for a in self.agreements)
        return digest(parts)[7:19]


@dataclass(frozen=True, kw_only=True)
class DecisionRequest:
    action: str
    source_org: str
    recipient_org: str
    categories: frozenset[str]
    student_id: str = ""
    actor: str = ""
    role: str = ""
    purpose: str = ""


@dataclass(frozen=True, kw_only=True)
class Decision:
    effect: str
    basis: tuple[str, ...]
    obligations: tuple[Mapping[str, object], ...]
    matched_rules: tuple[str, ...]
    reasons: tuple[str, ...]
    policy_version: str
    decision_id: str
    request_digest: str = field(default="")

    @property
    def permitted(self) -> bool:
        return self.effect == PERMIT

    def to_dict(self) -> dict[str, object]:
        return {
            "decisionId": self.decision_id,
            "effect": self.effect,
            "basis": list(self.basis),
            "obligations": [dict(o) for o in self.obligations],
            "matchedRules": list(self.matched_rules),
            "reasons": list(self.reasons),
            "policyVersion": self.policy_version,
        }


def decide(request: DecisionRequest, policy: PolicySet, now: dt.datetime) -> Decision:
    problems = _vocabulary_problems(request, policy)
    if problems:
        return _decision(request, policy, now, DENY, (), (), problems)
    if request.action == READ and request.source_org == request.recipient_org:
        reason = f"'{request.recipient_org}' reads records it sent itself"
        return _decision(
            request,
            policy,
            now,
            PERMIT,
            (f"own-record:{request.recipient_org}",),
            ("own-record",),
            (reason,),
        )
    basis: list[str] = []
    rules: list[str] = []
    reasons: list[str] = []
    for category in sorted(request.categories):
        clause = _covering_clause(request, policy, category, now.date())
        if clause is None:
            return _decision(request, policy, now, DENY, (), (), (_uncovered(request, category),))
        basis.append(f"agreement:{clause}")
        rules.append(clause)
        reasons.append(f"category '{category}' is covered by {clause}")
    return _decision(
        request,
        policy,
        now,
        PERMIT,
        tuple(dict.fromkeys(basis)),
        tuple(rules),
        tuple(reasons),
    )


def _vocabulary_problems(request: DecisionRequest, policy: PolicySet) -> tuple[str, ...]:
    problems = []
    for org in sorted({request.source_org, request.recipient_org} - {""}):
        if org not in policy.organizations:
            problems.append(f"organization '{org}' is not a registered partner")
    for category in sorted(request.categories - policy.categories):
        problems.append(f"data category '{category}' is not in the vocabulary")
    if request.action == READ:
        if request.purpose not in policy.purposes:
            problems.append(f"purpose '{request.purpose}' is not in the vocabulary")
        if request.role not in policy.roles:
            problems.append(f"role '{request.role}' is not in the vocabulary")
    if not request.categories:
        problems.append("the request names no data category")
    return tuple(problems)


def _covering_clause(
    request: DecisionRequest, policy: PolicySet, category: str, today: dt.date
) -> str | None:
    for agreement in sorted(policy.agreements, key=lambda a: a.id):
        if agreement.in_force(today) and _covers(agreement, request, category):
            return f"{agreement.id}@{agreement.version}#schedule.{request.source_org}.sends.{category}"
    return None


def _covers(agreement: Agreement, request: DecisionRequest, category: str) -> bool:
    source = agreement.entry_for(request.source_org)
    if source is None or category not in source.sends:
        return False
    if request.action == INBOUND:
        return True
    recipient = agreement.entry_for(request.recipient_org)
    if recipient is None or category not in recipient.receives:
        return False
    if request.action == READ:
        return request.purpose in agreement.purposes and request.role in agreement.recipient_roles
    return request.purpose in agreement.purposes


def _uncovered(request: DecisionRequest, category: str) -> str:
    if request.action == INBOUND:
        return f"no active agreement lets '{request.source_org}' send category '{category}'"
    return (
        f"no active agreement lets '{request.recipient_org}' receive category '{category}' "
        f"from '{request.source_org}' for purpose '{request.purpose}' as role '{request.role}'"
    )


def _decision(
    request: DecisionRequest,
    policy: PolicySet,
    now: dt.datetime,
    effect: str,
    basis: tuple[str, ...],
    rules: tuple[str, ...],
    reasons: tuple[str, ...],
) -> Decision:
    request_digest = digest(
        {
            "action": request.action,
            "source": request.source_org,
            "recipient": request.recipient_org,
            "categories": sorted(request.categories),
            "student": request.student_id,
            "actor": request.actor,
            "role": request.role,
            "purpose": request.purpose,
        }
    )
    return Decision(
        effect=effect,
        basis=basis if effect == PERMIT else (),
        obligations=(),
        matched_rules=rules,
        reasons=reasons,
        policy_version=policy.version,
        decision_id=derive_id("dec", request_digest, policy.version, now.isoformat()),
        request_digest=request_digest,
    )
