"""``explain``: what the decision point would decide for a request, and everything it read.

The answer is the full decision (effect, legal basis, obligations, matched rules, reasons,
policy version, decision id) plus the inputs it used: the request as decided, the consents of
the student it considered, and the agreements in force between the two organizations. Asked
``as_read`` without regimes, the data is labelled as a plan read labels it (``read_labels``). Terms
outside the vocabulary are a deny with that reason (the core says so), never an error. Explain
enforces nothing, so it calls ``decide`` directly rather than an enforcement point; every
explanation is audited (``policy.explained``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from gateway.artifacts import Artifacts
from gateway.core.canonical import digest
from gateway.core.consent import Consent
from gateway.core.plan import iter_elements
from gateway.core.policy import DISCLOSE, EXPORT, READ, Decision, DecisionRequest, PolicySet, decide
from gateway.core.policy_model import ACTIONS
from gateway.errors import InputInvalid, Issue
from gateway.service.compliance import audit
from gateway.service.policy.consent_checks import birth_date
from gateway.service.policy.policies import consents_for, policy_set
from gateway.service.runtime import Runtime
from gateway.service.views.coordinator_scope import Scope, category_labels, scope_of
from gateway.service.views.plans import ReadRequest
from gateway.storage import plan_store, student_store
from gateway.storage.db import Session

MAX_NAME = 120  # organization ids and actors, as the audit trail stores them


def explain(
    rt: Runtime,
    *,
    source: str,
    recipient: str,
    categories: Iterable[str],
    purpose: str,
    role: str,
    actor: str,
    student_ref: str | None = None,
    regimes: Iterable[str] = (),
    sensitivities: Iterable[str] = (),
    action: str = "read",
    emergency_reason: str = "",
    asked_by: str = "",
    partner_view: bool = False,
    as_read: bool = False,
) -> dict[str, Any]:
    """``partner_view``: the answer for a partner (over HTTP) holds only what that partner may
    know: the consents that name it, and neither the student's internal id, nor whether the
    student exists or has a known birth date. The administrator's CLI sees everything.

    ``as_read``: without ``regimes``, label the data as a read would (``read_labels``), so the
    answer is the one a plan read gives rather than a decision on data under no law."""
    _check_shape(action, {"source": source, "recipient": recipient, "actor": actor, "asked_by": asked_by})
    now, categories = rt.now(), frozenset(categories)
    regimes, sensitivities = frozenset(regimes), frozenset(sensitivities)
    with rt.sessions.begin() as session:
        student_id = _student_id(session, student_ref)
        if as_read and not regimes and action in LABELLED_ACTIONS:
            plan = plan_store.get_plan(session, student_id) if student_id and not partner_view else None
            # Several labels: the answer is for all of that data (deny when any part would be withheld).
            found = read_labels(rt.artifacts, source, categories, plan.document if plan else None)
            regimes = frozenset(r for r, _ in found)
            sensitivities = sensitivities or frozenset(s for _, s in found)
        request = DecisionRequest(
            action=action,
            source_org=source,
            recipient_org=recipient,
            categories=categories,
            regimes=regimes,
            sensitivities=sensitivities,
            student_id=student_id,
            student_birth_date=birth_date(session, student_id) if student_id else None,
            actor=actor,
            role=role,
            purpose=purpose,
            emergency_reason=emergency_reason,
        )
        policy = policy_set(session, rt)
        consents = consents_for(session, rt, student_id) if student_id else ()
        if partner_view:
            consents = tuple(c for c in consents if asked_by in _parties(c))
        decision = decide(request, policy, consents, now)
        inputs = _inputs(request, policy, [c.id for c in consents], decision, now)
        if partner_view:
            inputs |= {"student": None, "birthDateKnown": None}
        audit.record(session, rt, [_draft(request, decision, policy, asked_by or actor)])
    audit.checkpoint(rt)
    return {**decision.to_dict(), "inputs": inputs}


LABELLED_ACTIONS = frozenset({READ, EXPORT, DISCLOSE})  # the actions plan elements are decided for


def read_labels(
    artifacts: Artifacts, source: str, categories: frozenset[str], plan: dict[str, Any] | None
) -> set[tuple[str, str]]:
    """The (regime, sensitivity) labels a plan read decides ``source``'s data of ``categories`` on.

    A read decides each element on the labels it carries (``plans.ElementKey``: source, category,
    regime, sensitivity), so those of the student's elements come first. Without such elements
    (no student, or a partner's view, whose answer must not depend on what records exist) they are
    the labels elements of those categories are given (``coordinator_scope.category_labels``)."""
    labels = category_labels(artifacts)  # the one table the coordinator's page states its scope from
    given = {pair for category in categories for pair in labels.get(category, ())}
    return (_plan_labels(plan, source, categories) if plan else set()) or given


def _plan_labels(plan: dict[str, Any], source: str, categories: frozenset[str]) -> set[tuple[str, str]]:
    return {
        (str(e["labels"]["regime"]), str(e["labels"]["sensitivity"]))
        for _, e in iter_elements(plan)
        if e["provenance"]["sourceOrganization"] == source and e["labels"]["category"] in categories
    }


def _parties(consent: Consent) -> set[str]:
    """The organizations a consent names: its grantor and every recipient of its provisions."""
    found, pending = {consent.grantor}, [consent.provision]
    while pending:
        provision = pending.pop()
        found |= set(provision.actors)
        pending.extend(provision.children)
    return found


def _check_shape(action: str, names: dict[str, str]) -> None:
    # Terms outside the vocabulary are decided (a deny); only what cannot be decided is refused.
    issues = [
        Issue(path=name, message=f"at most {MAX_NAME} characters")
        for name, value in names.items()
        if len(value) > MAX_NAME
    ]
    if action not in ACTIONS:
        issues.append(Issue(path="action", message=f"one of {', '.join(sorted(ACTIONS))}"))
    if issues:
        raise InputInvalid("the request cannot be explained", issues)


def _student_id(session: Session, ref: str | None) -> str:
    """The canonical id of a known student; anything else gives no student (and no consents)."""
    if not ref:
        return ""
    if "|" not in ref:
        return ref if student_store.student_exists(session, ref) else ""
    system, value = ref.rsplit("|", 1)
    return student_store.links_for(session, [(system, value)]).get((system, value), "")


def _inputs(
    request: DecisionRequest, policy: PolicySet, consent_ids: list[str], decision: Decision, now: dt.datetime
) -> dict[str, Any]:
    orgs = {request.source_org, request.recipient_org} - {""}
    return {
        "action": request.action,
        "source": request.source_org,
        "recipient": request.recipient_org,
        "categories": sorted(request.categories),
        "regimes": sorted(request.regimes),
        "sensitivities": sorted(request.sensitivities),
        "purpose": request.purpose,
        "role": request.role,
        "actor": request.actor,
        "student": request.student_id or None,
        "birthDateKnown": request.student_birth_date is not None,
        "emergency": bool(request.emergency_reason),
        "at": now.isoformat(),
        "consentsConsidered": sorted(consent_ids),
        "agreementsInForce": sorted(
            f"{a.id}@{a.version}" for a in policy.agreements if a.in_force(now.date()) and orgs <= a.parties
        ),
        "policyVersion": policy.version,
        "requestDigest": decision.request_digest,
    }


def _draft(
    request: DecisionRequest, decision: Decision, policy: PolicySet, asked_by: str
) -> audit.AuditDraft:
    # The emergency statement may describe the student: only whether one was given is kept.
    # A term outside the vocabulary is free text from the caller: the audit keeps its digest.
    return audit.AuditDraft(
        kind="policy.explained",
        actor=asked_by,
        subject=request.student_id,
        details={
            "decisionId": decision.decision_id,
            "effect": decision.effect,
            "action": request.action,
            "source": _known(request.source_org, policy.organizations),
            "recipient": _known(request.recipient_org, policy.organizations),
            "purpose": _known(request.purpose, policy.purposes),
            "role": _known(request.role, policy.roles),
            "categories": sorted(_known(c, policy.categories) for c in request.categories),
            "emergency": bool(request.emergency_reason),
            "matchedRules": list(decision.matched_rules),
            "policyVersion": decision.policy_version,
            "requestDigest": decision.request_digest,
        },
    )


def _known(term: str, vocabulary: Collection[str]) -> str:
    return term if not term or term in vocabulary else "unknown:" + digest(term)


def view_scope(rt: Runtime, request: ReadRequest) -> Scope:
    """What ``request``'s view of its student's plan can and cannot include, from agreements and
    consents alone (``coordinator_scope``): for a reader the plan was just shown to."""
    with rt.sessions() as session:
        policy = policy_set(session, rt)
        consents = consents_for(session, rt, request.student_id)
        born = birth_date(session, request.student_id)
    return scope_of(rt.artifacts, request, policy=policy, consents=consents, birth_date=born, now=rt.now())
