"""Checking a FHIR R4 Consent before anything is stored: every problem at once.

A consent must be a valid R4 Consent with an id; it must have every required element
(34 CFR 99.30, 45 CFR 164.508(c), 42 CFR 2.31, as ``core.consent.missing_elements`` lists
them); its codes, data categories and partners must be known, since a term the gateway cannot
read would silently widen a grant; and, when the student and their birth date are known, the
signer must be someone who may consent for this data at the signing time (R5, 42 CFR 2.14):
a parent or guardian only when a guardian link names them for the student (issue 10).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from gateway.core.consent import (
    NOT_LINKED,
    PART2,
    Consent,
    ConsentQuery,
    Provision,
    missing_elements,
    signer_problem,
)
from gateway.core.policy import PolicySet
from gateway.errors import InputInvalid, Issue
from gateway.formats import parse_payload
from gateway.formats.fhir_consent import CATEGORY_SYSTEM, ORGANIZATION_SYSTEM, read_consent
from gateway.service.identity import guardians
from gateway.service.policy.consent_forms import SCOPE_SYSTEM
from gateway.service.policy.policies import policy_set
from gateway.service.runtime import Runtime
from gateway.storage import plan_store, student_store
from gateway.storage.db import Session

SCOPES = ("adr", "research", "patient-privacy", "treatment")
PART2_CATEGORY = "substance-use"  # data in this category is 42 CFR Part 2 data whatever its label
_LINK_PENDING = "unlinked"  # stands in for a student known only by the consent's identifier


def check_consent(session: Session, rt: Runtime, document: Any) -> Consent:
    """The consent as a value, linked when its student is known; InputInvalid with every problem."""
    _check_fhir(document)
    parsed = read_consent(document, rt.artifacts.codes)
    links = student_store.links_for(session, [parsed.patient_identifier] if parsed.patient_identifier else [])
    student_id = links.get(parsed.patient_identifier) if parsed.patient_identifier else None
    consent = replace(parsed.consent, student_id=student_id or "")
    stand_in = student_id or (_LINK_PENDING if parsed.patient_identifier else "")
    policy = policy_set(session, rt)
    issues = [
        *parsed.issues,
        *_missing(replace(consent, student_id=stand_in)),
        *_known_terms(rt, policy, document, consent),
    ]
    if not issues:
        issues.extend(_signer_issues(session, policy, guardians.with_links(session, [consent])[0]))
    if issues:
        raise InputInvalid(
            f"consent {consent.id or '(no id)'} is incomplete or invalid: {len(issues)} problem(s); "
            "nothing was stored",
            issues,
        )
    return consent


def _check_fhir(document: Any) -> None:
    if not isinstance(document, dict) or document.get("resourceType") != "Consent":
        raise InputInvalid(
            "the body must be one FHIR R4 Consent resource",
            [Issue(path="Consent.resourceType", message="expected 'Consent'")],
        )
    parsed = parse_payload("fhir-json", _as_bytes(document))
    issues = [
        Issue(path="Consent" + i.path.removeprefix("$"), message=i.message)
        for problem in parsed.problems
        for i in problem.issues
    ]
    issues += _own_issues(document)
    if issues:
        raise InputInvalid(f"not a valid FHIR R4 Consent: {len(issues)} problem(s)", issues)


def _own_issues(document: dict[str, Any]) -> list[Issue]:
    """What the gateway asks of a Consent beyond R4 (the gate checks an id's form, the status's
    value set and nulls): an id to keep it by, and scope codes of the gateway's own system."""
    issues = []
    if not document.get("id"):
        issues.append(Issue(path="Consent.id", message="required: 1 to 64 letters, digits, '-' or '.'"))
    scope = document.get("scope")
    codings = scope.get("coding") if isinstance(scope, dict) else None
    for i, coding in enumerate(codings if isinstance(codings, list) else []):
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(coding, dict) and coding.get("system") == SCOPE_SYSTEM and code not in SCOPES:
            issues.append(
                Issue(path=f"Consent.scope.coding[{i}].code", message=f"one of {', '.join(SCOPES)}")
            )
    return issues


def _as_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode("utf-8")


def _missing(consent: Consent) -> list[Issue]:
    # "expiry (provision.period.end)" -> Consent.provision.period.end: the element's FHIR path.
    return [
        Issue(
            path="Consent." + name.split("(", 1)[1].rstrip(")").split(" or ")[0],
            message=f"required element missing: {name}",
        )
        for name in missing_elements(consent)
    ]


def _known_terms(rt: Runtime, policy: PolicySet, document: dict[str, Any], consent: Consent) -> list[Issue]:
    """Partners and categories the gateway knows; a term it cannot read would widen a grant."""
    issues: list[Issue] = []
    if not consent.grantor:
        issues.append(
            Issue(path="Consent.organization", message="required: the partner organization that discloses")
        )
    elif consent.grantor not in policy.organizations:
        issues.append(Issue(path="Consent.organization", message="not a registered partner organization"))
    _provision_terms(document.get("provision", {}), "Consent.provision", policy.organizations, rt, issues)
    return issues


def _provision_terms(
    doc: dict[str, Any], where: str, organizations: Any, rt: Runtime, issues: list[Issue]
) -> None:
    categories = rt.artifacts.vocabulary.categories
    for i, coding in enumerate(doc.get("class", [])):
        if coding.get("system") != CATEGORY_SYSTEM:
            issues.append(Issue(path=f"{where}.class[{i}].system", message=f"use {CATEGORY_SYSTEM}"))
        elif coding.get("code") not in categories:
            issues.append(Issue(path=f"{where}.class[{i}].code", message="not a data category"))
    for i, actor in enumerate(doc.get("actor", [])):
        org = _actor_organization(actor.get("reference", {}))
        if org is None or org not in organizations:
            issues.append(
                Issue(path=f"{where}.actor[{i}].reference", message="not a registered partner organization")
            )
    for i, child in enumerate(doc.get("provision", [])):
        _provision_terms(child, f"{where}.provision[{i}]", organizations, rt, issues)


def _actor_organization(reference: dict[str, Any]) -> str | None:
    identifier = reference.get("identifier", {})
    if identifier.get("system") == ORGANIZATION_SYSTEM and identifier.get("value"):
        return str(identifier["value"])
    ref = str(reference.get("reference", ""))
    return ref.split("/", 1)[1] if ref.startswith("Organization/") else None


def _signer_issues(session: Session, policy: PolicySet, consent: Consent) -> list[Issue]:
    """R5 at the signing time, when the student and their birth date are known.

    A parent or guardian of a known student must be linked to them already (issue 10); for a
    student not known yet the consent is kept, and counts only once a link names its signer."""
    if consent.student_id and guardians.needs_link(consent) and not consent.signer_linked:
        return [Issue(path="Consent.performer", message=NOT_LINKED)]
    birth = birth_date(session, consent.student_id) if consent.student_id else None
    if birth is None or consent.signed_at is None:
        return []  # checked again at every decision, once the birth date is known
    query = ConsentQuery(
        student_id=consent.student_id,
        source=consent.grantor,
        recipient="",
        action="disclose",
        purpose="",
        category="",
        labels=_labels_covered(consent.provision),
        birth_date=birth,
        part2_minor_self_consent=policy.part2_minor_self_consent,
    )
    problem = signer_problem(consent, query, consent.signed_at.date())
    return [Issue(path="Consent.performer", message=problem)] if problem else []


def _labels_covered(provision: Provision) -> frozenset[str]:
    """Labels of the data a consent permits: Part 2 when it names substance-use records."""
    found = set(provision.labels) | ({PART2} if PART2_CATEGORY in provision.classes else set())
    for child in provision.children:
        if child.type == "permit":
            found |= _labels_covered(child)
    return frozenset(found)


def birth_date(session: Session, student_id: str) -> dt.date | None:
    """The student's birth date as the plan holds it (``student.birthDate``), when known."""
    plan = plan_store.get_plan(session, student_id)
    element = plan.document.get("student", {}).get("birthDate") if plan is not None else None
    try:
        return dt.date.fromisoformat(element["value"]) if element else None
    except (KeyError, TypeError, ValueError):
        return None
