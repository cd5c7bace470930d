"""Every resource type of the Gravity SDOH Clinical Care IG maps or is ignored with a stated reason.

The list is vendored in tests/fixtures/gravity-ig-resources.txt (its sources are named there): a type
with neither a mapping nor an ignored-records entry fails here, before a clinic's export is rejected
with "no mapping". Ignored types are also sent through the real pipeline, in JSON and XML, as minimal
valid R4 resources: they must end ignored with their reason, never rejected.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.artifacts import load_artifacts
from gateway.formats.fhir_xml_write import to_xml
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest

FIXTURE = Path(__file__).parent / "fixtures" / "gravity-ig-resources.txt"
IGNORED = "ignored-records"


def ig_entries() -> list[tuple[str, str]]:
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, _, role = line.partition("|")
            rows.append((kind.strip(), role.strip()))
    return rows


IG_TYPES = sorted({kind for kind, _ in ig_entries()})


@pytest.fixture(scope="module")
def artifacts():
    return load_artifacts()


def test_the_vendored_list_holds_the_igs_profiles() -> None:
    roles = " ".join(role for _, role in ig_entries())
    profiles = ("Condition", "Goal", "ServiceRequest", "Procedure", "TaskForReferralManagement", "Consent")
    assert all(f"SDOHCC-{p}" in roles for p in profiles)
    assert len(IG_TYPES) >= 30


@pytest.mark.parametrize(("kind", "role"), ig_entries(), ids=[f"{k}:{r[:40]}" for k, r in ig_entries()])
def test_every_ig_resource_type_maps_or_is_ignored_with_a_reason(artifacts, kind: str, role: str) -> None:
    mapping = artifacts.mapping_for("fhir-json", kind)
    reason = artifacts.codes[IGNORED].get(f"fhir-json|{kind}")
    assert mapping is not None or reason, f"{kind} ({role}): add a mapping or an ignored-records entry"
    # Never both: a mapped type would silently never be ignored, and the reason would mislead.
    assert mapping is None or reason is None, f"{kind} is mapped and ignored"
    if reason is not None:
        assert len(str(reason)) > 30, f"{kind}: the reason should say why, for the sender"


# Minimal valid R4 instances of every ignored type (the required elements of the base resource).
PATIENT = {"reference": "Patient/pat-53234"}
MINIMAL = {
    "CareTeam": {"status": "active", "subject": PATIENT},
    "Consent": {
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": PATIENT,
    },
    "Device": {"status": "active"},
    "DocumentReference": {
        "status": "current",
        "subject": PATIENT,
        "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/scan-1"}}],
    },
    "Encounter": {
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": PATIENT,
    },
    "Coverage": {
        "status": "active",
        "beneficiary": PATIENT,
        "payor": [{"reference": "Organization/payer-1"}],
    },
    "CarePlan": {"status": "active", "intent": "plan", "subject": PATIENT},
    "Communication": {"status": "completed", "subject": PATIENT},
    "CommunicationRequest": {"status": "active", "subject": PATIENT},
    "Group": {"type": "person", "actual": True},
    "HealthcareService": {"active": True, "name": "Food pantry"},
    "Location": {"status": "active", "name": "Main site"},
    "Organization": {"active": True, "name": "Clinic"},
    "Practitioner": {"active": True},
    "PractitionerRole": {"active": True},
    "Questionnaire": {"status": "active"},
    "Subscription": {
        "status": "requested",
        "reason": "referral updates",
        "criteria": "Task?owner=Organization/cbo-1",
        "channel": {"type": "rest-hook", "endpoint": "https://cp.example.org/notify"},
    },
    "CapabilityStatement": {
        "status": "active",
        "date": "2026-01-01",
        "kind": "requirements",
        "fhirVersion": "4.0.1",
        "format": ["json"],
    },
    "StructureMap": {
        "url": "http://example.org/StructureMap/hvs",
        "name": "HVS",
        "status": "active",
        "group": [
            {
                "name": "g",
                "typeMode": "none",
                "input": [{"name": "src", "mode": "source"}],
                "rule": [{"name": "r", "source": [{"context": "src"}]}],
            }
        ],
    },
    "StructureDefinition": {
        "url": "http://example.org/StructureDefinition/x",
        "name": "X",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
    },
    "CodeSystem": {"status": "active", "content": "complete"},
    "ValueSet": {"status": "active"},
    "SearchParameter": {
        "url": "http://example.org/SearchParameter/x",
        "name": "x",
        "status": "active",
        "description": "x",
        "code": "x",
        "base": ["Task"],
        "type": "reference",
    },
}


def ignored_types() -> list[str]:
    codes = load_artifacts().codes[IGNORED]
    return [kind for kind in IG_TYPES if f"fhir-json|{kind}" in codes]


def test_every_ignored_ig_type_has_a_minimal_instance_here() -> None:
    assert sorted(set(ignored_types()) - set(MINIMAL)) == []


@pytest.mark.parametrize("wire", ["fhir-json", "fhir-xml"])
@pytest.mark.parametrize("kind", ignored_types())
def test_an_ignored_ig_type_is_ignored_with_its_reason_not_rejected(rt, kind: str, wire: str) -> None:
    resource = {"resourceType": kind, "id": f"{kind.lower()}-1", **MINIMAL[kind]}
    payload = json.dumps(resource).encode() if wire == "fhir-json" else to_xml(resource)
    summary = ingest(rt, Inbound(source_org="riverside-health", format_name=wire, payload=payload))
    outcome = summary.outcome
    assert (outcome["ignored"], outcome["rejected"], outcome["held"]) == (1, 0, 0), outcome
    assert outcome["records"][0]["reason"] == rt.artifacts.codes[IGNORED][f"fhir-json|{kind}"]
