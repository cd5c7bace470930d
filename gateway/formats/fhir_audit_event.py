"""Audit entries as FHIR R4 AuditEvents, after the IHE Basic Audit Log Patterns (BALP).

- a ``decision`` entry becomes an **AuthZconsent** event: type DCM 110113 Security Alert,
  subtype ``AuthZ-Consent``, action E, outcome 0 for a permit and 4 (minor failure) for a deny
  with the reason codes as ``outcomeDesc``; agents user (the recipient, requestor), user
  organization, authorizer (the gateway) and the source; entities patient, each Consent relied
  on and the decision itself;
- a ``disclosure`` entry becomes a **PrivacyDisclosure.Source** event: type DCM 110106 Export,
  subtype ISO 21089 ``disclose``, action R, outcome 0; agents source (DCM 110153) and recipient
  (DCM 110152, requestor); entities patient, the data set and each Consent relied on;
- any other kind (lifecycle entries) becomes a generic application-activity event (DCM 110100)
  whose subtype is the entry's kind; only asked for by kind (see service.audit_export).

The patient is named by the gateway's student id as an identifier, never by name. Everything
in ``entity.detail`` is an id, code or digest (the record's own contract, core.disclosure), and
the data set entity carries the entry's seq and chain hash so an exported event can be checked
against the log. The event id derives from the seq, so it is stable across exports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.core.audit import AuditEntry
from gateway.core.disclosure import DECISION, DISCLOSURE, DecisionRecord, DisclosureRecord

SYSTEM = "urn:spgw"
STUDENT_SYSTEM = f"{SYSTEM}:student"
ORG_SYSTEM = f"{SYSTEM}:organization"
CONSENT_SYSTEM = f"{SYSTEM}:consent"
DECISION_SYSTEM = f"{SYSTEM}:decision"
DISCLOSURE_SYSTEM = f"{SYSTEM}:disclosure"
ENTRY_SYSTEM = f"{SYSTEM}:audit-entry"
KIND_SYSTEM = f"{SYSTEM}:audit-kind"
ROLE_SYSTEM = f"{SYSTEM}:role"
PURPOSE_SYSTEM = f"{SYSTEM}:purpose"
GATEWAY = "spgw"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
OUTCOME = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ISO_21089 = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
BALP_AUTHZ = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

ID_PREFIX = "spgw-audit-"


def event_id(seq: int) -> str:
    return f"{ID_PREFIX}{seq}"


def seq_of(resource_id: str) -> int | None:
    """The entry seq an AuditEvent id names, or None if it names none."""
    tail = resource_id.removeprefix(ID_PREFIX)
    if tail == resource_id or not tail.isascii() or not tail.isdigit() or len(tail) > 18:
        return None
    return int(tail)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    return coding | {"display": display} if display else coding


def _ident(system: str, value: str) -> dict[str, Any]:
    return {"identifier": {"system": system, "value": value or "unknown"}}


def _details(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    # Lists as comma-joined codes: every value is an id, code or digest, never free text.
    out = []
    for name, value in pairs:
        text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
        if text not in (None, ""):
            out.append({"type": name, "valueString": str(text)})
    return out


def _chain(entry: AuditEntry) -> list[tuple[str, Any]]:
    return [
        ("seq", entry.seq),
        ("kind", entry.kind),
        ("chainHash", entry.hash),
        ("prevHash", entry.prev_hash),
    ]


def _patient(student: str) -> list[dict[str, Any]]:
    if not student:
        return []
    return [
        {
            "what": _ident(STUDENT_SYSTEM, student),
            "type": _coding(ENTITY_TYPE, "1", "Person"),
            "role": _coding(OBJECT_ROLE, "1", "Patient"),
        }
    ]


def _consents(consent_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {"what": _ident(CONSENT_SYSTEM, c), "type": _coding("http://hl7.org/fhir/resource-types", "Consent")}
        for c in consent_ids
    ]


def _org_agent(org: str, role: tuple[str, str, str], *, requestor: bool) -> dict[str, Any]:
    system, code, display = role
    return {
        "type": {"coding": [_coding(system, code, display)]},
        "who": _ident(ORG_SYSTEM, org),
        "requestor": requestor,
    }


def _source(code: str, display: str) -> dict[str, Any]:
    return {"site": GATEWAY, "observer": {"display": GATEWAY}, "type": [_coding(SOURCE_TYPE, code, display)]}


def _base(entry: AuditEntry, type_: dict[str, Any], subtype: dict[str, Any], action: str) -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "id": event_id(entry.seq),
        "type": type_,
        "subtype": [subtype],
        "action": action,
        "recorded": entry.recorded_at,
    }


def decision_event(entry: AuditEntry) -> dict[str, Any]:
    rec = DecisionRecord.from_details(entry.details)
    event = _base(entry, _coding(DCM, "110113", "Security Alert"), _coding(BALP_AUTHZ, "AuthZ-Consent"), "E")
    permit = rec.effect == "permit"
    event["outcome"] = "0" if permit else "4"
    if not permit:
        event["outcomeDesc"] = "deny: " + (",".join(rec.reasons) or "no rule permits")
    if rec.purpose:
        event["purposeOfEvent"] = [{"coding": [_coding(PURPOSE_SYSTEM, rec.purpose)]}]
    user = _org_agent(
        rec.recipient,
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", "information recipient"),
        requestor=True,
    )
    if rec.role:
        user["role"] = [{"coding": [_coding(ROLE_SYSTEM, rec.role)]}]
    event["agent"] = [
        user,
        _org_agent(
            rec.recipient,
            ("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider"),
            requestor=False,
        ),
        _org_agent(
            GATEWAY,
            (
                "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                "authserver",
                "authorization server",
            ),
            requestor=False,
        ),
        _org_agent(rec.source, (DCM, "110153", "Source Role ID"), requestor=False),
    ]
    event["source"] = _source("6", "Security Server")
    decision = {
        "what": _ident(DECISION_SYSTEM, rec.decision_id),
        "type": _coding(ENTITY_TYPE, "2", "System Object"),
        "detail": _details(
            [
                ("decisionId", rec.decision_id),
                ("effect", rec.effect),
                ("action", rec.action),
                ("categories", rec.categories),
                ("legalBasis", rec.basis),
                ("policyVersion", rec.policy_version),
                ("agreements", rec.agreements),
                ("rules", rec.rules),
                ("reasons", rec.reasons),
                ("obligations", [o.get("kind", o.get("type", "")) for o in rec.obligations]),
                *_chain(entry),
            ]
        ),
    }
    event["entity"] = [*_patient(entry.subject), *_consents(rec.consent_ids), decision]
    return event


def disclosure_event(entry: AuditEntry) -> dict[str, Any]:
    rec = DisclosureRecord.from_details(entry.details)
    event = _base(
        entry,
        _coding(DCM, "110106", "Export"),
        _coding(ISO_21089, "disclose", "Disclose Record Lifecycle Event"),
        "R",
    )
    event["outcome"] = "0"
    if rec.purpose:
        event["purposeOfEvent"] = [{"coding": [_coding(PURPOSE_SYSTEM, rec.purpose)]}]
    sources = [_org_agent(s, (DCM, "110153", "Source Role ID"), requestor=False) for s in rec.sources]
    recipient = _org_agent(rec.recipient, (DCM, "110152", "Destination Role ID"), requestor=True)
    if rec.recipient_role:
        recipient["role"] = [{"coding": [_coding(ROLE_SYSTEM, rec.recipient_role)]}]
    if rec.actor:
        recipient["altId"] = rec.actor
    event["agent"] = [*sources, recipient]
    event["source"] = _source("4", "Application Server")
    data = {
        "what": _ident(DISCLOSURE_SYSTEM, rec.disclosure_id),
        "type": _coding(ENTITY_TYPE, "2", "System Object"),
        "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
        "detail": _details(
            [
                ("disclosureId", rec.disclosure_id),
                ("flow", rec.flow),
                ("categories", rec.categories),
                ("elements", rec.elements),
                ("recordCount", rec.record_count),
                ("payloadDigest", rec.payload_digest),
                ("redactions", rec.redactions),
                ("legalBasis", rec.legal_basis),
                ("agreements", rec.agreements),
                ("consentIds", rec.consent_ids),
                ("decisionIds", rec.decision_ids),
                ("policyVersion", rec.policy_version),
                ("emergencyThreatDigest", rec.emergency_threat_digest),
                ("disclosedAt", rec.disclosed_at),
                *_chain(entry),
            ]
        ),
    }
    event["entity"] = [*_patient(entry.subject), data, *_consents(rec.consent_ids)]
    return event


def generic_event(entry: AuditEntry) -> dict[str, Any]:
    event = _base(
        entry, _coding(DCM, "110100", "Application Activity"), _coding(KIND_SYSTEM, entry.kind), "E"
    )
    event["outcome"] = "0"
    event["agent"] = [{"who": _ident(f"{SYSTEM}:actor", entry.actor), "requestor": True}]
    event["source"] = _source("4", "Application Server")
    record = {
        "what": _ident(ENTRY_SYSTEM, str(entry.seq)),
        "type": _coding(ENTITY_TYPE, "2", "System Object"),
        "detail": _details(_chain(entry)),
    }
    event["entity"] = [*_patient(entry.subject), record]
    return event


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    """The AuditEvent of one audit entry, by its kind."""
    if entry.kind == DECISION:
        return decision_event(entry)
    if entry.kind == DISCLOSURE:
        return disclosure_event(entry)
    return generic_event(entry)


def bundle(
    events: list[dict[str, Any]], *, kind: str, links: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """A ``collection`` or ``searchset`` Bundle of AuditEvents; never a ``total`` (a count would
    say how much exists that the reader may not see)."""
    doc: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    link = [{"relation": rel, "url": url} for rel, url in links]
    if link:
        doc["link"] = link
    entries = []
    for event in events:
        item: dict[str, Any] = {"fullUrl": f"AuditEvent/{event['id']}", "resource": event}
        if kind == "searchset":
            item["search"] = {"mode": "match"}
        entries.append(item)
    if entries:  # FHIR JSON has no empty arrays
        doc["entry"] = entries
    return doc
