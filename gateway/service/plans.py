"""Reading a plan: every element is decided on before the answer is formed.

The reader names who they are (actor), in which role and for which purpose. Each element is
checked with the same ``decide`` the inbound path uses; elements without a permit are left
out before anything is counted, and the answer never says how many were hidden. A plan that
does not exist and a plan of which nothing may be shown get the same answer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.plan import iter_elements
from gateway.core.policy import READ, Decision, DecisionRequest, PolicySet, decide
from gateway.errors import InputInvalid, Issue, NotFound
from gateway.service import audit
from gateway.service.policies import policy_set
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo


@dataclass(frozen=True, kw_only=True)
class ReadRequest:
    student_id: str
    organization_id: str
    actor: str
    role: str
    purpose: str


@dataclass(frozen=True, kw_only=True)
class PlanView:
    plan: dict[str, Any]
    version: int
    decision_ids: tuple[str, ...]
    policy_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "version": self.version,
            "disclosure": {
                "decisionIds": list(self.decision_ids),
                "policyVersion": self.policy_version,
            },
        }


def _check_request(request: ReadRequest) -> None:
    missing = [
        Issue(path=name, message=f"required: say which {name} this read is for")
        for name in ("actor", "role", "purpose")
        if not getattr(request, name)
    ]
    if missing:
        raise InputInvalid("a plan read must name its actor, role and purpose", missing)


def _not_visible(student_id: str) -> NotFound:
    return NotFound(f"no plan of student {student_id} is available to this reader")


def read_plan(rt: Runtime, request: ReadRequest) -> PlanView:
    _check_request(request)
    with rt.sessions.begin() as session:
        row = repo.get_plan(session, request.student_id)
        policy = policy_set(session, rt)
        decisions: dict[tuple[str, str], Decision] = {}
        visible = None
        if row is not None:
            visible = _visible_plan(rt, row.document, request, policy, decisions)
        audit.record(session, rt, [_audit_draft(request, visible, decisions, policy)])
    audit.checkpoint(rt)
    if row is None or visible is None:
        raise _not_visible(request.student_id)
    permitted = tuple(sorted({d.decision_id for d in decisions.values() if d.permitted}))
    return PlanView(
        plan=visible,
        version=row.version,
        decision_ids=permitted,
        policy_version=policy.version,
    )


def _visible_plan(
    rt: Runtime,
    plan: dict[str, Any],
    request: ReadRequest,
    policy: PolicySet,
    decisions: dict[tuple[str, str], Decision],
) -> dict[str, Any] | None:
    now = rt.now()
    hidden: set[str] = set()
    shown = 0
    for _slot, element in iter_elements(plan):
        key = (
            element["provenance"]["sourceOrganization"],
            element["labels"]["category"],
        )
        if key not in decisions:
            decisions[key] = decide(
                DecisionRequest(
                    action=READ,
                    source_org=key[0],
                    recipient_org=request.organization_id,
                    categories=frozenset({key[1]}),
                    student_id=request.student_id,
                    actor=request.actor,
                    role=request.role,
                    purpose=request.purpose,
                ),
                policy,
                now,
            )
        if decisions[key].permitted:
            shown += 1
        else:
            hidden.add(element["id"])
    return _without(plan, hidden) if shown else None


def _without(plan: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    result = copy.deepcopy(plan)
    student = result["student"]
    for key in ("name", "birthDate", "gradeLevel", "school"):
        if key in student and student[key]["id"] in hidden:
            del student[key]
    for key in ("identifiers", "languages", "enrollments"):
        student[key] = [e for e in student.get(key, []) if e["id"] not in hidden]
    for domain in result["domains"].values():
        domain["facts"] = [e for e in domain["facts"] if e["id"] not in hidden]
    for key in ("strengths", "interests", "needs", "goals", "supports", "team"):
        result[key] = [e for e in result.get(key, []) if e["id"] not in hidden]
    return result


def _audit_draft(
    request: ReadRequest,
    visible: dict[str, Any] | None,
    decisions: dict[tuple[str, str], Decision],
    policy: PolicySet,
) -> audit.AuditDraft:
    disclosed = sorted(e["id"] for _, e in iter_elements(visible)) if visible else []
    return audit.AuditDraft(
        kind="plan.read",
        actor=f"{request.organization_id}/{request.actor}",
        subject=request.student_id,
        details={
            "role": request.role,
            "purpose": request.purpose,
            "outcome": "disclosed" if visible else "nothing-disclosed",
            "elementsDisclosed": len(disclosed),
            "disclosedDigest": digest(disclosed),
            "categories": sorted({cat for (_, cat), d in decisions.items() if d.permitted}),
            "decisions": [
                {
                    "id": d.decision_id,
                    "effect": d.effect,
                    "rules": list(d.matched_rules),
                }
                for d in sorted(decisions.values(), key=lambda d: d.decision_id)
            ],
            "policyVersion": policy.version,
        },
    )
