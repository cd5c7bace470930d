"""Reading and exporting a plan: every element is decided on before the answer is formed.

The reader names who they are (actor), in which role and for which purpose. Each element is
decided with the same ``decide`` every path uses, on its own source, category and labels
(regime, sensitivity), with the student's consents. Elements without a permit, or outside the
minimum-necessary field set of the permit, are left out before anything is counted; the
answer never says how many were hidden. A plan that does not exist and a plan of which nothing
may be shown get the same answer. Obligations (Part 2 notice, retention, redisclosure terms)
travel with the answer.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.artifacts import Vocabulary
from gateway.core.canonical import digest
from gateway.core.consent import Consent
from gateway.core.disclosure import PLAN_EXPORT, PLAN_READ
from gateway.core.plan import iter_elements, without_elements
from gateway.core.policy import DISCLOSE, EXPORT, READ, Decision, DecisionRequest, PolicySet
from gateway.errors import InputInvalid, Issue, NotFound
from gateway.service.compliance import audit, disclosures
from gateway.service.exchange import reference_data
from gateway.service.identity.students import NOT_AVAILABLE, resolve_in
from gateway.service.policy import enforcement
from gateway.service.policy.policies import consents_for, policy_set
from gateway.service.policy.terms import term_issues
from gateway.service.runtime import Runtime
from gateway.storage import plan_store, student_store
from gateway.storage.db import Session

ElementKey = tuple[str, str, str, str]  # source, category, regime, sensitivity
POINT_OF_ACTION = {EXPORT: "export", DISCLOSE: "delivery"}


@dataclass(frozen=True, kw_only=True)
class ReadRequest:
    student_id: str
    organization_id: str
    actor: str
    role: str
    purpose: str
    emergency_reason: str = ""
    action: str = READ


@dataclass(frozen=True, kw_only=True)
class PlanView:
    plan: dict[str, Any]
    version: int
    decision_ids: tuple[str, ...]
    policy_version: str
    obligations: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "version": self.version,
            "disclosure": {
                "decisionIds": list(self.decision_ids),
                "policyVersion": self.policy_version,
                "obligations": list(self.obligations),
            },
        }


def _check_request(request: ReadRequest, vocabulary: Vocabulary) -> None:
    missing = [
        Issue(path=name, message=f"required: say which {name} this read is for")
        for name in ("actor", "role", "purpose")
        if not getattr(request, name)
    ]
    too_long = [
        Issue(path=name, message=f"at most {limit} characters")
        for name, limit in (("actor", 120), ("role", 60), ("purpose", 60), ("emergency_reason", 2000))
        if len(getattr(request, name)) > limit
    ]
    if too_long:
        raise InputInvalid("a plan read names its actor, role and purpose briefly", too_long)
    if request.purpose == "emergency" and not request.emergency_reason:
        missing.append(Issue(path="emergency_reason", message="an emergency read must state the threat"))
    # Checked before the student is looked up: the answer to a bad term is the same for everyone.
    issues = missing + term_issues(vocabulary, role=request.role, purpose=request.purpose)
    if issues:
        raise InputInvalid("a plan read must name its actor, role and purpose", issues)


def not_visible() -> NotFound:
    # One answer, word for word, for an unknown identifier, an unknown student and a plan of
    # which nothing may be shown: it names nothing the caller sent and no internal id.
    return NotFound(
        NOT_AVAILABLE, [Issue(path="student", message="check the identifier, the role and the purpose")]
    )


@dataclass(frozen=True, kw_only=True)
class Disclosure:
    """What may leave the gateway for one request: the shaped plan (None when nothing) and why."""

    plan: dict[str, Any] | None
    version: int
    decisions: dict[ElementKey, Decision]
    policy: PolicySet

    @property
    def permitted(self) -> list[Decision]:
        return [d for d in self.decisions.values() if d.permitted]

    @property
    def consent_ids(self) -> list[str]:
        return sorted(
            {r.split(":", 1)[1] for d in self.permitted for r in d.matched_rules if r.startswith("consent:")}
        )


def registered(session: Session, student_id: str) -> str:
    """``student_id`` when it names a registered student, else "" (it may be anything typed)."""
    return student_id if student_id and student_store.student_exists(session, student_id) else ""


def decide_disclosure(session: Session, rt: Runtime, request: ReadRequest) -> Disclosure:
    """Decide every element of the student's plan for ``request``, inside the caller's transaction."""
    _check_request(request, rt.artifacts.vocabulary)
    row = plan_store.get_plan(session, request.student_id)
    policy = policy_set(session, rt)
    decisions: dict[ElementKey, Decision] = {}
    if row is None:
        return Disclosure(plan=None, version=0, decisions=decisions, policy=policy)
    consents = consents_for(session, rt, request.student_id)
    visible = _visible_plan(rt, row.document, request, policy, consents, decisions)
    return Disclosure(plan=visible, version=row.version, decisions=decisions, policy=policy)


def read_plan(rt: Runtime, request: ReadRequest, *, student_ref: str | None = None) -> PlanView:
    """The plan as this reader may see it. Given ``student_ref`` (stu-... or SYSTEM|VALUE), the
    student is resolved in the same transaction, and an unknown one walks the same steps (decide,
    audit, checkpoint) as a known one shown nothing, so neither answer nor timing tells them apart."""
    _check_request(request, rt.artifacts.vocabulary)
    started = time.monotonic()
    with rt.sessions.begin() as session:
        if student_ref is not None:
            request = replace(request, student_id=resolve_in(session, student_ref))
        disclosure = decide_disclosure(session, rt, request)
        # Joined on read, over the visible plan only: a title never rides on a hidden element.
        shown = (
            reference_data.referenced(session, rt, disclosure.plan) if disclosure.plan is not None else None
        )
        if not request.student_id:
            consents_for(session, rt, "")  # the consent lookup a known student costs
        # The audit names a registered student by canonical id, never what the caller typed.
        audited = replace(request, student_id=registered(session, request.student_id))
        drafts = [_audit_draft(audited, disclosure.plan, disclosure.decisions, disclosure.policy)]
        audit.record(session, rt, drafts + _two_entries(audited, disclosure))
    audit.checkpoint(rt)
    if shown is None:
        _pad(started, rt.settings.denial_floor_ms)
        raise not_visible()
    return PlanView(
        plan=shown,
        version=disclosure.version,
        decision_ids=tuple(sorted({d.decision_id for d in disclosure.permitted})),
        policy_version=disclosure.policy.version,
        obligations=shared_obligations(disclosure.permitted),
    )


def _pad(started: float, floor_ms: int) -> None:
    # Real time, not the runtime's clock: this is about what a caller can measure.
    left = floor_ms / 1000 - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)


def export_plan(rt: Runtime, request: ReadRequest) -> PlanView:
    """A copy of the plan leaving the gateway: decided as an export, audited as a disclosure."""
    return read_plan(rt, ReadRequest(**{**request.__dict__, "action": EXPORT}))


def birth_date_of(plan: dict[str, Any]) -> dt.date | None:
    element = plan.get("student", {}).get("birthDate")
    try:
        return dt.date.fromisoformat(element["value"]) if element else None
    except (KeyError, ValueError):
        return None


def _visible_plan(
    rt: Runtime,
    plan: dict[str, Any],
    request: ReadRequest,
    policy: PolicySet,
    consents: tuple[Consent, ...],
    decisions: dict[ElementKey, Decision],
) -> dict[str, Any] | None:
    now, birth = rt.now(), birth_date_of(plan)
    hidden: set[str] = set()
    for slot, element in iter_elements(plan):
        labels = element["labels"]
        key = (
            element["provenance"]["sourceOrganization"],
            labels["category"],
            labels["regime"],
            labels["sensitivity"],
        )
        if key not in decisions:
            decisions[key] = enforcement.enforce(
                POINT_OF_ACTION.get(request.action, "read"),
                _element_request(request, key, birth),
                policy,
                consents,
                now,
            )
        if not decisions[key].permitted or not _in_field_set(decisions[key], slot):
            hidden.add(element["id"])
    shown = sum(1 for _ in iter_elements(plan)) - len(hidden)
    return without_elements(plan, hidden) if shown else None


def _element_request(request: ReadRequest, key: ElementKey, birth: dt.date | None) -> DecisionRequest:
    source, category, regime, sensitivity = key
    return DecisionRequest(
        action=request.action,
        source_org=source,
        recipient_org=request.organization_id,
        categories=frozenset({category}),
        regimes=frozenset({regime}),
        sensitivities=frozenset({sensitivity}),
        student_id=request.student_id,
        student_birth_date=birth,
        actor=request.actor,
        role=request.role,
        purpose=request.purpose,
        emergency_reason=request.emergency_reason,
    )


def _in_field_set(decision: Decision, slot: str) -> bool:
    """Minimum necessary: a keep-only obligation lists the slots this reader may see."""
    for obligation in decision.obligations:
        if obligation.get("type") == "keep-only" and slot not in obligation.get("paths", []):  # type: ignore[operator]
            return False
    return True


def shared_obligations(decisions: list[Decision]) -> tuple[dict[str, Any], ...]:
    found: dict[str, dict[str, Any]] = {}
    for decision in decisions:
        for obligation in decision.obligations:
            if obligation.get("type") != "keep-only":
                found.setdefault(digest(dict(obligation)), dict(obligation))
    return tuple(found[k] for k in sorted(found))


def _two_entries(request: ReadRequest, disclosure: Disclosure) -> list[audit.AuditDraft]:
    """Each decision once and, when the read showed something, one disclosure entry."""
    actor = f"{request.organization_id}/{request.actor}"
    drafts = disclosures.element_decision_drafts(
        disclosure.decisions,
        action=request.action,
        recipient=request.organization_id,
        role=request.role,
        purpose=request.purpose,
        actor=actor,
        subject=request.student_id,
    )
    if disclosure.plan is None or not request.student_id:
        return drafts
    elements = [
        (str(e["id"]), str(e["provenance"]["sourceOrganization"]), str(e["labels"]["category"]))
        for _, e in iter_elements(disclosure.plan)
        if "labels" in e and "provenance" in e
    ]
    record = disclosures.plan_record(
        flow=PLAN_EXPORT if request.action == EXPORT else PLAN_READ,
        student_id=request.student_id,
        recipient=request.organization_id,
        role=request.role,
        actor=request.actor,
        purpose=request.purpose,
        elements=elements,
        permitted=disclosure.permitted,
        policy_version=disclosure.policy.version,
        emergency_reason=request.emergency_reason,
    )
    return [*drafts, disclosures.disclosure_draft(record, actor=actor, subject=request.student_id)]


def _audit_draft(
    request: ReadRequest,
    visible: dict[str, Any] | None,
    decisions: dict[ElementKey, Decision],
    policy: PolicySet,
) -> audit.AuditDraft:
    disclosed = sorted(e["id"] for _, e in iter_elements(visible)) if visible else []
    permitted = [d for d in decisions.values() if d.permitted]
    return audit.AuditDraft(
        kind="plan.export" if request.action == EXPORT else "plan.read",
        actor=f"{request.organization_id}/{request.actor}",
        subject=request.student_id,
        details={
            "recipient": request.organization_id,
            "role": request.role,
            "purpose": request.purpose,
            "emergency": bool(request.emergency_reason),
            # Flagged for the compliance report: a FERPA health-or-safety emergency disclosure.
            "flags": ["ferpa-99.36-emergency"] if request.purpose == "emergency" else [],
            "subjectResolved": bool(request.student_id),
            # 34 CFR 99.32(a)(5): the threat is recorded; the audit keeps its digest, not its words.
            "emergencyThreatDigest": digest(request.emergency_reason) if request.emergency_reason else None,
            "outcome": "disclosed" if visible else "nothing-disclosed",
            "elementsDisclosed": len(disclosed),
            "disclosedDigest": digest(disclosed),
            "categories": sorted({key[1] for key, d in decisions.items() if d.permitted}) if visible else [],
            "basis": sorted({b for d in permitted for b in d.basis}) if visible else [],
            # The request as asked and answered; each decision is its own entry, named here by id.
            "decisions": sorted(d.decision_id for d in decisions.values()),
            "policyVersion": policy.version,
        },
    )
