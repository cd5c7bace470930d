"""The policy decision point: ``decide(request, policy, consents, now)``.

Default deny. A permit needs, for every requested data category:

1. an **agreement clause**: an agreement in force between the parties whose schedule covers the
   category in the requested direction, for the stated purpose and recipient role (R1, R13);
2. a **legal basis** for every regime the data falls under (R2): a consent, a FERPA exception
   (34 CFR 99.31(a)(1) school official, 99.36 emergency, 99.31(a)(6) studies), HIPAA treatment
   (45 CFR 164.506) or emergency (164.512(j)), a Part 2 medical emergency (42 CFR 2.51); data not
   covered by any of these laws needs only the agreement.

Deny overrides: one uncovered category, one regime without a basis, or one consent that denies
makes the whole request a deny. Reading what one's own organization sent needs no more than a
vocabulary-valid request (basis ``own-record``). Obligations travel with a permit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.core.canonical import digest
from gateway.core.consent import NONE, PART2, Consent, ConsentQuery, evaluate, fingerprint
from gateway.core.ids import derive_id
from gateway.core.policy_model import (
    ACTIONS,
    AGGREGATE,
    DISCLOSE,
    EXPORT,
    INBOUND,
    READ,
    Agreement,
    DecisionRequest,
    PolicySet,
    ScheduleEntry,
)

__all__ = [
    "AGGREGATE",
    "DENY",
    "DISCLOSE",
    "EXPORT",
    "INBOUND",
    "PART2_NOTICE",
    "PERMIT",
    "READ",
    "Agreement",
    "Decision",
    "DecisionRequest",
    "PolicySet",
    "ScheduleEntry",
    "decide",
]

T = TypeVar("T")
PERMIT = "permit"
DENY = "deny"
PART2_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony "
    "that describes the information contained in this record, for any criminal, civil, or "
    "administrative proceedings or investigations against the patient. 42 CFR part 2 prohibits "
    "unauthorized disclosure of these records."
)
SCHOOL_KINDS = frozenset({"school-district", "school"})
PROVIDER_KINDS = frozenset({"health-provider"})


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


@dataclass
class _Grounds:
    """What a permit rests on, gathered category by category."""

    basis: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)


class _Denied(Exception):
    def __init__(self, *reasons: str) -> None:
        self.reasons = reasons


def decide(
    request: DecisionRequest, policy: PolicySet, consents: Sequence[Consent], now: dt.datetime
) -> Decision:
    problems = _vocabulary_problems(request, policy)
    if problems:
        return _decision(request, policy, now, DENY, _Grounds(reasons=list(problems)), ())
    if request.action != INBOUND and request.source_org == request.recipient_org:
        grounds = _Grounds(
            basis=[f"own-record:{request.recipient_org}"],
            rules=["own-record"],
            reasons=[f"'{request.recipient_org}' reads records it sent itself"],
        )
        return _decision(request, policy, now, PERMIT, grounds, ())
    grounds = _Grounds()
    try:
        for category in sorted(request.categories):
            _ground_category(request, policy, consents, now, category, grounds)
    except _Denied as denied:
        return _decision(request, policy, now, DENY, _Grounds(reasons=list(denied.reasons)), (), consents)
    obligations = _obligations(request, policy, now, grounds)
    return _decision(request, policy, now, PERMIT, grounds, obligations, consents)


def _vocabulary_problems(request: DecisionRequest, policy: PolicySet) -> tuple[str, ...]:
    problems = [
        f"organization '{org}' is not a registered partner"
        for org in sorted({request.source_org, request.recipient_org} - {""})
        if org not in policy.organizations
    ]
    problems += [
        f"data category '{c}' is not in the vocabulary"
        for c in sorted(request.categories - policy.categories)
    ]
    if request.action not in ACTIONS:
        problems.append(f"action '{request.action}' is not one the gateway performs")
    if request.action != INBOUND:
        if request.purpose not in policy.purposes:
            problems.append(f"purpose '{request.purpose}' is not in the vocabulary")
        if request.role not in policy.roles:
            problems.append(f"role '{request.role}' is not in the vocabulary")
    if not request.categories:
        problems.append("the request names no data category")
    return tuple(problems)


def _ground_category(
    request: DecisionRequest,
    policy: PolicySet,
    consents: Sequence[Consent],
    now: dt.datetime,
    category: str,
    grounds: _Grounds,
) -> None:
    agreement = _covering_agreement(request, policy, category, now.date())
    if agreement is None:
        raise _Denied(_uncovered(request, category))
    clause = f"{agreement.id}@{agreement.version}#schedule.{request.source_org}.sends.{category}"
    grounds.agreements.append(agreement)
    grounds.rules.append(clause)
    grounds.reasons.append(f"category '{category}' is covered by {clause}")
    if request.action == INBOUND:
        grounds.basis.append(f"agreement:{clause}")
        return
    outcome = evaluate(consents, _consent_query(request, policy, category), now)
    if outcome.effect == DENY:
        raise _Denied(*outcome.reasons)
    regimes = request.regimes or frozenset({"not-covered"})
    for regime in sorted(regimes):
        basis = _legal_basis(
            request, policy, regime, agreement, clause, outcome.effect != NONE, outcome.consent_id
        )
        if basis is None:
            raise _Denied(_no_basis(request, regime, category), *outcome.reasons)
        grounds.basis.append(basis)
    if outcome.consent_id and outcome.effect != NONE:
        grounds.consents.append(outcome.consent_id)
        grounds.rules.append(f"consent:{outcome.consent_id}")
        grounds.reasons.extend(outcome.reasons[-1:])


def _consent_query(request: DecisionRequest, policy: PolicySet, category: str) -> ConsentQuery:
    return ConsentQuery(
        student_id=request.student_id,
        source=request.source_org,
        recipient=request.recipient_org,
        action="disclose",
        purpose=request.purpose,
        category=category,
        labels=request.regimes | request.sensitivities,
        birth_date=request.student_birth_date,
        part2_minor_self_consent=policy.part2_minor_self_consent,
    )


def _legal_basis(
    request: DecisionRequest,
    policy: PolicySet,
    regime: str,
    agreement: Agreement,
    clause: str,
    consented: bool,
    consent_id: str | None,
) -> str | None:
    """The first basis that holds for ``regime``, in the order the law prefers to record them."""
    recipient_kind = policy.organizations.get(request.recipient_org, "")
    emergency = request.purpose == "emergency" and bool(request.emergency_reason)
    candidates: dict[str, tuple[tuple[bool, str], ...]] = {
        "not-covered": ((True, f"agreement:{clause}"),),
        "FERPA": (
            (consented, f"consent:{consent_id}"),
            (emergency, "ferpa:34 CFR 99.36 health or safety emergency"),
            (
                recipient_kind in SCHOOL_KINDS and request.purpose == "educational-interest",
                "ferpa:34 CFR 99.31(a)(1) school official",
            ),
            (
                request.purpose == "research" and "research" in agreement.purposes,
                f"ferpa:34 CFR 99.31(a)(6) study under {agreement.id}",
            ),
        ),
        "HIPAA": (
            (consented, f"consent:{consent_id}"),
            (
                recipient_kind in PROVIDER_KINDS and request.purpose == "treatment",
                "hipaa:45 CFR 164.506(c) treatment",
            ),
            (emergency, "hipaa:45 CFR 164.512(j) serious threat"),
        ),
        PART2: (
            (consented, f"consent:{consent_id}"),
            (emergency and recipient_kind in PROVIDER_KINDS, "part2:42 CFR 2.51 medical emergency"),
        ),
    }
    return next((basis for holds, basis in candidates.get(regime, ()) if holds), None)


def _covering_agreement(
    request: DecisionRequest, policy: PolicySet, category: str, today: dt.date
) -> Agreement | None:
    for agreement in sorted(policy.agreements, key=lambda a: a.id):
        if agreement.in_force(today) and _covers(agreement, request, category):
            return agreement
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
    return request.purpose in agreement.purposes and request.role in agreement.recipient_roles


def _uncovered(request: DecisionRequest, category: str) -> str:
    if request.action == INBOUND:
        return f"no active agreement lets '{request.source_org}' send category '{category}'"
    return (
        f"no active agreement lets '{request.recipient_org}' receive category '{category}' "
        f"from '{request.source_org}' for purpose '{request.purpose}' as role '{request.role}'"
    )


def _no_basis(request: DecisionRequest, regime: str, category: str) -> str:
    return (
        f"no legal basis to disclose {regime} data ('{category}') to '{request.recipient_org}' "
        f"for purpose '{request.purpose}': no consent permits it and no exception applies"
    )


def _obligations(
    request: DecisionRequest, policy: PolicySet, now: dt.datetime, grounds: _Grounds
) -> tuple[Mapping[str, object], ...]:
    if request.action == INBOUND:
        return ()
    found: list[Mapping[str, object]] = []
    for agreement in {a.id: a for a in grounds.agreements}.values():
        found.extend(_agreement_obligations(agreement, request, now))
    if PART2 in request.regimes:
        found.append({"type": "attach-notice", "regulation": "42 CFR 2.32", "text": PART2_NOTICE})
        found.extend({"type": "attach-consent", "consentId": cid} for cid in _unique(grounds.consents))
    if any(b.startswith(("ferpa:34 CFR 99.36", "hipaa:45 CFR 164.512(j)", "part2:")) for b in grounds.basis):
        found.append(
            {"type": "record-emergency", "threatDigest": digest(request.emergency_reason), "review": True}
        )
    return tuple(found)


def _agreement_obligations(
    agreement: Agreement, request: DecisionRequest, now: dt.datetime
) -> Iterable[Mapping[str, object]]:
    fields = agreement.field_set(request.purpose, request.role)
    if fields is not None:
        yield {"type": "keep-only", "agreement": agreement.id, "paths": list(fields)}
    if agreement.retention_days:
        until = (now + dt.timedelta(days=agreement.retention_days)).date().isoformat()
        yield {"type": "retain-until", "agreement": agreement.id, "date": until}
    if agreement.redisclosure:
        yield {"type": "no-redisclosure", "agreement": agreement.id, "terms": agreement.redisclosure}
    if request.action == AGGREGATE and agreement.min_cell_size:
        yield {"type": "suppress-small-cells", "agreement": agreement.id, "minimum": agreement.min_cell_size}


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


def _decision(
    request: DecisionRequest,
    policy: PolicySet,
    now: dt.datetime,
    effect: str,
    grounds: _Grounds,
    obligations: tuple[Mapping[str, object], ...],
    consents: Sequence[Consent] = (),
) -> Decision:
    # The id names everything the decision rested on, consents included, so two decisions
    # that could differ never share an id.
    considered = sorted(fingerprint(c) for c in consents if c.student_id == request.student_id)
    request_digest = digest({**request.digest_body(), "consents": considered})
    return Decision(
        effect=effect,
        basis=tuple(dict.fromkeys(grounds.basis)) if effect == PERMIT else (),
        obligations=obligations,
        matched_rules=tuple(dict.fromkeys(grounds.rules)),
        reasons=tuple(grounds.reasons),
        policy_version=policy.version,
        decision_id=derive_id("dec", request_digest, policy.version, now.isoformat()),
        request_digest=request_digest,
    )
