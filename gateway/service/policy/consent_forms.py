"""A consent recorded through the CLI or API, written as the FHIR R4 Consent the gateway imports.

The document has the Gravity SDOHCC Consent shape of ``consent_policies/samples/consents/``.
Purposes and security labels go back to HL7 v3 codes through the crosswalks the import reads
(``mappings/codes/purpose-of-use.yaml``, ``security-labels.yaml``) in reverse: the first code
listed for a term is the one written, so an import of the document reads the same terms back.
The id is derived from the content, so recording the same consent twice stores it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.ids import derive_id
from gateway.errors import InputInvalid, Issue
from gateway.formats.fhir_consent import CATEGORY_SYSTEM, ORGANIZATION_SYSTEM, SIGNER_EXTENSION
from gateway.formats.fhir_signer import ROLE_CODE_SYSTEM

SDOHCC_PROFILE = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-Consent"
SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONFIDENTIALITY_CODES = frozenset({"U", "L", "M", "N", "R", "V"})
SIGNERS = {"parent": "RelatedPerson", "guardian": "RelatedPerson", "student": "Patient"}
RELATIONSHIPS = {"parent": "PRN", "guardian": "GUARD"}  # v3 RoleCode when the form names none


@dataclass(frozen=True, kw_only=True)
class ConsentForm:
    """What a family signed, in the gateway's own terms."""

    patient: tuple[str, str]  # (system, value) of an identifier the student is linked by
    grantor: str
    recipients: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    signer_role: str
    signed_at: dt.date | dt.datetime
    expires: dt.date
    labels: tuple[str, ...] = ()
    deny: bool = False
    # A parent or guardian is named by the identifier a guardian link knows them by (issue 10).
    signer_identifier: tuple[str, str] | None = None
    relationship: str | None = None  # HL7 v3 RoleCode; default PRN (parent) or GUARD (guardian)


def consent_document(form: ConsentForm, codes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The FHIR Consent for ``form``; InputInvalid naming every term that has no code."""
    purposes = _codes(form.purposes, _reverse(codes.get("purpose-of-use", {})), "purposes")
    labels = _codes(form.labels, _reverse(codes.get("security-labels", {})), "labels")
    issues = [*purposes.issues, *labels.issues, *_form_issues(form)]
    if issues:
        raise InputInvalid(f"the consent cannot be written: {len(issues)} problem(s)", issues)
    body = _body(form, purposes.codes, labels.codes)
    return {"resourceType": "Consent", "id": derive_id("consent", digest(body)), **body}


@dataclass(frozen=True, kw_only=True)
class _Coded:
    codes: tuple[str, ...]
    issues: tuple[Issue, ...]


def _reverse(table: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for code, term in table.items():
        found.setdefault(str(term), code)
    return found


def _codes(terms: tuple[str, ...], table: Mapping[str, str], where: str) -> _Coded:
    missing = tuple(
        Issue(path=f"{where}[{i}]", message=f"'{term}' has no code in the crosswalk")
        for i, term in enumerate(terms)
        if term not in table
    )
    return _Coded(codes=tuple(table[t] for t in terms if t in table), issues=missing)


def _form_issues(form: ConsentForm) -> list[Issue]:
    issues = []
    if form.signer_role not in SIGNERS:
        issues.append(Issue(path="signer", message=f"one of {', '.join(sorted(SIGNERS))}"))
    named = form.signer_identifier is not None and all(form.signer_identifier)
    if SIGNERS.get(form.signer_role) == "RelatedPerson" and not named:
        issues.append(
            Issue(
                path="signerIdentifier",
                message="a parent or guardian is named by an identifier (system and value) their "
                "guardian link to the student has",
            )
        )
    if isinstance(form.signed_at, dt.datetime) and form.signed_at.tzinfo is None:
        issues.append(Issue(path="signed", message="give a time with its UTC offset"))
    signed_day = form.signed_at.date() if isinstance(form.signed_at, dt.datetime) else form.signed_at
    if form.expires < signed_day:
        issues.append(Issue(path="expires", message="expires before it was signed"))
    return issues


def _body(form: ConsentForm, purposes: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, Any]:
    signed_day = form.signed_at.date() if isinstance(form.signed_at, dt.datetime) else form.signed_at
    system, value = form.patient
    return {
        "meta": {"profile": [SDOHCC_PROFILE]},
        "extension": [{"url": SIGNER_EXTENSION, "valueCode": form.signer_role}],
        "status": "active",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": system, "value": value}},
        "dateTime": form.signed_at.isoformat(),
        **_signer(form, (system, value)),
        "organization": [_organization(form.grantor)],
        "provision": {
            "type": "deny" if form.deny else "permit",
            "period": {"start": signed_day.isoformat(), "end": form.expires.isoformat()},
            "actor": [_recipient(org) for org in form.recipients],
            "action": [{"coding": [{"system": CONSENT_ACTION, "code": "disclose"}]}],
            "purpose": [{"system": ACT_REASON, "code": code} for code in purposes],
            "class": [{"system": CATEGORY_SYSTEM, "code": category} for category in form.categories],
            **({"securityLabel": [_label(code) for code in labels]} if labels else {}),
        },
    }


def _signer(form: ConsentForm, patient: tuple[str, str]) -> dict[str, Any]:
    """The student as the Patient, or the parent or guardian as a contained RelatedPerson."""
    if form.signer_role == "student" or form.signer_identifier is None:
        return {"performer": [{"type": "Patient", "display": form.signer_role}]}
    code = form.relationship or RELATIONSHIPS.get(form.signer_role, "PRN")
    related = {
        "resourceType": "RelatedPerson",
        "id": "signer",
        "identifier": [{"system": form.signer_identifier[0], "value": form.signer_identifier[1]}],
        "patient": {"identifier": {"system": patient[0], "value": patient[1]}},
        "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": code}]}],
    }
    return {"contained": [related], "performer": [{"reference": "#signer", "display": form.signer_role}]}


def _organization(org: str) -> dict[str, Any]:
    return {"identifier": {"system": ORGANIZATION_SYSTEM, "value": org}}


def _recipient(org: str) -> dict[str, Any]:
    return {
        "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
        "reference": _organization(org),
    }


def _label(code: str) -> dict[str, str]:
    return {"system": CONFIDENTIALITY if code in CONFIDENTIALITY_CODES else ACT_CODE, "code": code}
