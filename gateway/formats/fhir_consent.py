"""FHIR R4 Consent <-> the gateway's consent values.

Import reads the provision tree (type, period, actor, action, purpose, class, securityLabel,
nested provisions). Purposes arrive as HL7 v3 ActReason codes and security labels as
v3-Confidentiality / v3-ActCode codes; both are translated through crosswalk tables in
``mappings/codes/``. Data categories travel as ``class`` codings in the gateway's own system.
Who signed is read from the performer by ``fhir_signer``: a ``Patient`` is the student, a
``RelatedPerson`` a parent or guardian only when its relationship says so (and, at every
decision, only when a guardian link names them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.consent import Consent, Provision
from gateway.errors import Issue
from gateway.formats.fhir_signer import SIGNER_EXTENSION, read_signer

__all__ = ["CATEGORY_SYSTEM", "ORGANIZATION_SYSTEM", "SIGNER_EXTENSION", "ParsedConsent", "read_consent"]

CATEGORY_SYSTEM = "https://success-plan-gateway.org/data-categories"
ORGANIZATION_SYSTEM = "https://success-plan-gateway.org/organizations"


@dataclass(frozen=True, kw_only=True)
class ParsedConsent:
    consent: Consent
    patient_identifier: tuple[str, str] | None  # (system, value) to link to a student
    issues: tuple[Issue, ...]


class _Reader:
    def __init__(self, codes: Mapping[str, Mapping[str, Any]]) -> None:
        self.codes = codes
        self.issues: list[Issue] = []

    def when(self, text: Any, where: str, end_of_day: bool = False) -> dt.datetime | None:
        if not text:
            return None
        value = str(text)
        try:
            if len(value) == 10:
                day = dt.date.fromisoformat(value)
                clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
                return dt.datetime.combine(day, clock, tzinfo=dt.UTC)
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.issues.append(Issue(path=where, message="not a FHIR date or dateTime"))
            return None
        if parsed.tzinfo is None:
            self.issues.append(Issue(path=where, message="dateTime needs a timezone offset"))
            return None
        return parsed

    def mapped(self, table: str, code: str, where: str) -> str | None:
        found = self.codes.get(table, {}).get(code)
        if found is None:
            self.issues.append(Issue(path=where, message=f"code '{code}' is not in crosswalk '{table}'"))
        return None if found is None else str(found)

    def provision(self, doc: Mapping[str, Any], where: str) -> Provision:
        period = doc.get("period", {})
        return Provision(
            type=str(doc.get("type", "permit")),
            start=self.when(period.get("start"), f"{where}.period.start"),
            end=self.when(period.get("end"), f"{where}.period.end", end_of_day=True),
            actors=frozenset(
                filter(None, (_organization(a.get("reference", {})) for a in doc.get("actor", [])))
            ),
            actions=frozenset(
                c["code"] for a in doc.get("action", []) for c in a.get("coding", []) if "code" in c
            ),
            purposes=frozenset(
                filter(
                    None,
                    (
                        self.mapped("purpose-of-use", p.get("code", ""), f"{where}.purpose[{i}]")
                        for i, p in enumerate(doc.get("purpose", []))
                    ),
                )
            ),
            classes=frozenset(c["code"] for c in doc.get("class", []) if c.get("system") == CATEGORY_SYSTEM),
            labels=frozenset(
                filter(
                    None,
                    (
                        self.mapped("security-labels", s.get("code", ""), f"{where}.securityLabel[{i}]")
                        for i, s in enumerate(doc.get("securityLabel", []))
                    ),
                )
            ),
            children=tuple(
                self.provision(child, f"{where}.provision[{i}]")
                for i, child in enumerate(doc.get("provision", []))
            ),
        )


def _organization(reference: Mapping[str, Any]) -> str | None:
    identifier = reference.get("identifier", {})
    if identifier.get("system") == ORGANIZATION_SYSTEM:
        return str(identifier.get("value"))
    ref = str(reference.get("reference", ""))
    return ref.split("/", 1)[1] if ref.startswith("Organization/") else None


def _patient_identifier(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    identifier = doc.get("patient", {}).get("identifier", {})
    if identifier.get("system") and identifier.get("value"):
        return str(identifier["system"]), str(identifier["value"])
    return None


def read_consent(
    doc: Mapping[str, Any], codes: Mapping[str, Mapping[str, Any]], student_id: str = ""
) -> ParsedConsent:
    """A validated FHIR R4 Consent resource as a gateway consent, with every problem found."""
    reader = _Reader(codes)
    organizations = [_organization(o) for o in doc.get("organization", [])]
    signer = read_signer(doc, codes)
    if signer.note:
        reader.issues.append(Issue(path="Consent.performer", message=signer.note))
    consent = Consent(
        id=str(doc.get("id", "")),
        student_id=student_id,
        status=str(doc.get("status", "")),
        scope=next((c.get("code", "") for c in doc.get("scope", {}).get("coding", [])), "patient-privacy"),
        signed_at=reader.when(doc.get("dateTime"), "Consent.dateTime"),
        signer_role=signer.role,
        signer_ids=signer.ids,
        signer_note=signer.note,
        grantor=next((o for o in organizations if o), ""),
        provision=reader.provision(doc.get("provision", {}), "Consent.provision"),
    )
    return ParsedConsent(
        consent=consent, patient_identifier=_patient_identifier(doc), issues=tuple(reader.issues)
    )
