"""Enforcement end to end with the real service: which parts of Lisa's plan each reader sees
(agreements, consents present / revoked / expired, her age, emergencies, minimum necessary); a
denied read looks the same whatever the reason; and every path runs its enforcement point,
error paths included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from gateway.core.plan import iter_elements
from gateway.errors import NotFound
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.policy import consents, enforcement
from gateway.service.policy.explain import explain
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, export_plan, read_plan
from gateway.storage import audit_store, plan_store
from gateway.web import create_app
from tests.agreement_helpers import agree, suspend
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import DISTRICT_IDS, LISA, demo_file, sans_request_id, send_demo

CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
SHORT = {CLINIC: "clinic", DISTRICT: "school", FOOD_BANK: "food-bank"}
SAMPLES = PROJECT_ROOT / "consent_policies" / "samples"
CLINIC_CONSENT = "consent-0001-riverside-to-gbisd"
FOOD_BANK_CONSENT, FOOD_BANK_AGREEMENT = "consent-0002-gbisd-to-northside", "gbisd-northside-2026"
SIGNED = dt.datetime(2025, 9, 17, 15, 30, tzinfo=dt.UTC)  # when the clinic consent was signed

SCHOOL_IDENTITY = frozenset({"student.name@school", "student.birthDate@school", "student.identifiers@school"})
CLINIC_IDENTITY = frozenset({"student.identifiers@clinic", "student.languages@clinic"})
SCREENING = frozenset({"domains.familyBasicNeeds.facts@clinic", "needs@clinic"})


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    """The demo world with Lisa's school record, clinic patient record and screening."""
    for prefix in ("01", "05", "04", "08"):  # 08: the district links Lisa's mother, who signed
        send_demo(rt, prefix)
    return rt


def visible(rt: Runtime, org: str, role: str, purpose: str, reason: str = "") -> frozenset[str] | None:
    """``slot@source`` of every element the reader sees; None for the one 'not available' answer."""
    request = ReadRequest(
        student_id=LISA, organization_id=org, actor="t", role=role, purpose=purpose, emergency_reason=reason
    )
    try:
        view = read_plan(rt, request)
    except NotFound:
        return None
    return frozenset(
        f"{slot}@{SHORT[e['provenance']['sourceOrganization']]}" for slot, e in iter_elements(view.plan)
    )


# -- scenario set-ups ----------------------------------------------------------------------


def clinic_consent(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (SAMPLES / "consents" / f"{CLINIC_CONSENT}.json").read_text("utf-8")
    )
    return {**document, **changes}


def replace_clinic_consent(**provision: Any) -> Callable[[Runtime, Clock], None]:
    """The sample consent never counted (revoked as signed), and a variant of it instead."""

    def setup(rt: Runtime, clock: Clock) -> None:
        consents.revoke_consent(rt, CLINIC_CONSENT, at=SIGNED, by=CLINIC)
        variant = clinic_consent(id="consent-variant")
        variant["provision"] = {**variant["provision"], **provision}
        consents.import_consent(rt, variant, recorded_by=CLINIC)

    return setup


def nothing(rt: Runtime, clock: Clock) -> None:
    pass


def revoked(rt: Runtime, clock: Clock) -> None:
    consents.revoke_consent(rt, CLINIC_CONSENT, by=CLINIC)


def newer_deny(rt: Runtime, clock: Clock) -> None:
    # Within one scope the most recent consent wins: the family now refuses what they allowed.
    deny = clinic_consent(id="consent-refusal", dateTime="2026-10-01T09:00:00Z")
    deny["provision"] = {
        **deny["provision"],
        "type": "deny",
        "period": {"start": "2026-10-01", "end": "2030-06-30"},
    }
    consents.import_consent(rt, deny, recorded_by=CLINIC)


def on(day: dt.date) -> Callable[[Runtime, Clock], None]:
    def setup(rt: Runtime, clock: Clock) -> None:
        clock.now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)

    return setup


def adult_consents(rt: Runtime, clock: Clock) -> None:
    on(dt.date(2028, 3, 14))(rt, clock)
    own = clinic_consent(id="consent-own", dateTime="2028-03-14T10:00:00Z")
    del own["contained"]  # Lisa signs herself: the Patient, not her mother
    own["performer"] = [{"reference": "Patient/rh-55810"}]
    own["extension"] = [
        {
            "url": "https://success-plan-gateway.org/fhir/StructureDefinition/signer-role",
            "valueCode": "student",
        }
    ]
    consents.import_consent(rt, own, recorded_by=CLINIC)


def emergency_clause(rt: Runtime, clock: Clock) -> None:
    """The district and the clinic add health-or-safety emergencies to their agreement."""
    document = yaml.safe_load((SAMPLES / "agreements" / "gbisd-riverside-2026.yaml").read_text("utf-8"))
    document["purposes"] = [*document["purposes"], "emergency"]
    agree(rt, document, by=DISTRICT)


def emergency_clause_and_revoked(rt: Runtime, clock: Clock) -> None:
    emergency_clause(rt, clock)
    revoked(rt, clock)


def no_food_bank_consent(rt: Runtime, clock: Clock) -> None:
    """The sample referral consent never counted (revoked as signed)."""
    signed = dt.datetime(2025, 9, 18, 9, 0, tzinfo=dt.UTC)
    consents.revoke_consent(rt, FOOD_BANK_CONSENT, at=signed, by=DISTRICT)


def no_food_bank_agreement(rt: Runtime, clock: Clock) -> None:
    suspend(rt, FOOD_BANK_AGREEMENT, by=DISTRICT, reason="under review")


def referral_consent(rt: Runtime, clock: Clock) -> None:
    """The family lets the district refer Lisa to the food bank."""
    consents.record_consent(
        rt,
        student_ref=f"{DISTRICT_IDS}|604822",
        grantor=DISTRICT,
        recipients=[FOOD_BANK],
        categories=["identity", "referral"],
        purposes=["referral-fulfillment"],
        signer_role="parent",
        signer_identifier=("https://grandbend.example.org/ns/contactUniqueId", "777822"),
        signed_at=dt.date(2026, 11, 1),
        expires=dt.date(2027, 10, 31),
        recorded_by=DISTRICT,
    )


THREAT = "student reported a plan to harm themself"

Reader = tuple[str, str, str]  # organization, role, purpose
COORDINATOR: Reader = (DISTRICT, "coordinator", "care-coordination")
TEACHER: Reader = (DISTRICT, "teacher", "care-coordination")
RESEARCHER: Reader = (DISTRICT, "coordinator", "research")
CLINICIAN: Reader = (CLINIC, "clinician", "treatment")
SCHOOL_EMERGENCY: Reader = (DISTRICT, "coordinator", "emergency")
CLINIC_EMERGENCY: Reader = (CLINIC, "clinician", "emergency")
CASE_WORKER: Reader = (FOOD_BANK, "case-worker", "referral-fulfillment")
EXPIRED = replace_clinic_consent(period={"start": "2025-09-17", "end": "2026-11-01"})
NOT_YET = replace_clinic_consent(period={"start": "2027-01-01", "end": "2030-06-30"})
OTHER_PURPOSE = replace_clinic_consent(purpose=[{"code": "TREAT"}])
BOTH = SCHOOL_IDENTITY | SCREENING
CASE_WORKER_SLOTS = frozenset({"student.name@school", "student.identifiers@school"})

# (set-up, reader, what the reader sees; None: the one 'not available' answer)
READS: list[Any] = [
    # agreement + consent: the coordinator sees the screening the family allowed
    pytest.param(nothing, COORDINATOR, BOTH, id="consented"),
    pytest.param(nothing, TEACHER, SCHOOL_IDENTITY, id="role not in agreement"),
    pytest.param(nothing, RESEARCHER, SCHOOL_IDENTITY, id="purpose not in agreement"),
    pytest.param(nothing, CLINICIAN, CLINIC_IDENTITY | SCREENING, id="the clinic's own records only"),
    # the consent's state
    pytest.param(revoked, COORDINATOR, SCHOOL_IDENTITY, id="consent revoked"),
    pytest.param(EXPIRED, COORDINATOR, SCHOOL_IDENTITY, id="consent expired"),
    pytest.param(NOT_YET, COORDINATOR, SCHOOL_IDENTITY, id="consent not yet valid"),
    pytest.param(OTHER_PURPOSE, COORDINATOR, SCHOOL_IDENTITY, id="consent for another purpose"),
    pytest.param(newer_deny, COORDINATOR, SCHOOL_IDENTITY, id="a newer deny wins"),
    # the student's age: a parent's consent stops counting at 18, the student's own counts
    pytest.param(on(dt.date(2028, 3, 13)), COORDINATOR, BOTH, id="day before 18"),
    pytest.param(on(dt.date(2028, 3, 14)), COORDINATOR, SCHOOL_IDENTITY, id="turned 18"),
    pytest.param(adult_consents, COORDINATOR, BOTH, id="18 and her own consent"),
    # emergencies: a stated threat is a legal basis, where the agreement names the purpose
    pytest.param(nothing, SCHOOL_EMERGENCY, SCHOOL_IDENTITY, id="emergency, no clause"),
    pytest.param(emergency_clause_and_revoked, SCHOOL_EMERGENCY, BOTH, id="emergency HIPAA, no consent"),
    pytest.param(
        emergency_clause, CLINIC_EMERGENCY, CLINIC_IDENTITY | BOTH, id="emergency FERPA, no consent"
    ),
    # minimum necessary: the food bank's case worker sees only the field set's slots
    pytest.param(referral_consent, CASE_WORKER, CASE_WORKER_SLOTS, id="field set"),
    # nothing at all: one answer
    pytest.param(no_food_bank_consent, CASE_WORKER, None, id="no consent"),
    pytest.param(no_food_bank_agreement, CASE_WORKER, None, id="no agreement in force"),
]


@pytest.mark.parametrize(("setup", "reader", "expected"), READS)
def test_what_each_reader_sees(
    lisa: Runtime,
    clock: Clock,
    setup: Callable[[Runtime, Clock], None],
    reader: Reader,
    expected: frozenset[str] | None,
) -> None:
    setup(lisa, clock)
    org, role, purpose = reader
    reason = THREAT if purpose == "emergency" else ""
    assert visible(lisa, org, role, purpose, reason) == expected


def test_field_set_minimisation_keeps_only_the_listed_slots(lisa: Runtime, clock: Clock) -> None:
    referral_consent(lisa, clock)
    # The district's identity data is permitted (the birth date included), with a keep-only
    # obligation: the agreement's field set for a case worker on a referral.
    decision = explain(
        lisa,
        source=DISTRICT,
        recipient=FOOD_BANK,
        categories=["identity"],
        regimes=["FERPA"],
        sensitivities=["normal"],
        purpose="referral-fulfillment",
        role="case-worker",
        actor="t",
        student_ref=LISA,
    )
    assert decision["effect"] == "permit"
    [keep] = [o for o in decision["obligations"] if o["type"] == "keep-only"]
    assert "student.birthDate" not in keep["paths"]
    assert visible(lisa, *CASE_WORKER) == CASE_WORKER_SLOTS


def test_an_emergency_read_is_recorded_as_one(lisa: Runtime, clock: Clock) -> None:
    emergency_clause_and_revoked(lisa, clock)
    org, role, purpose = SCHOOL_EMERGENCY
    request = ReadRequest(
        student_id=LISA, organization_id=org, actor="t", role=role, purpose=purpose, emergency_reason=THREAT
    )
    view = read_plan(lisa, request)
    [emergency] = [o for o in view.obligations if o["type"] == "record-emergency"]
    assert emergency["review"] is True
    with lisa.sessions() as session:
        [entry] = [
            e for e in audit_store.audit_entries(session, "plan.read", 10, 0) if e.details["emergency"]
        ]
    assert "hipaa:45 CFR 164.512(j) serious threat" in entry.details["basis"]
    assert THREAT not in json.dumps(entry.details)


# -- a denied read looks the same whatever the reason --------------------------------------


def test_a_denied_read_is_the_same_answer_whatever_the_reason(lisa: Runtime) -> None:
    client: FlaskClient = create_app({"TESTING": True}, runtime=lisa).test_client()
    secret = json.loads((lisa.settings.home / "demo-credentials.json").read_text("utf-8"))[FOOD_BANK]
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    case_worker = {"actor": "t", "role": "case-worker", "purpose": "referral-fulfillment"}

    def answer(student: str = LISA, **query: str) -> tuple[int, str, str]:
        response = client.get(
            f"/api/v1/plans/{student}", query_string={**case_worker, **query}, headers=headers
        )
        return response.status_code, response.headers["Content-Type"], response.get_data(as_text=True)

    answers = {
        "purpose not agreed": answer(purpose="research"),
        "unknown student": answer("stu-" + "a" * 26),
    }
    no_food_bank_consent(lisa, Clock())
    answers["no consent"] = answer()
    no_food_bank_agreement(lisa, Clock())
    answers["no agreement"] = answer()
    # The answer names the student asked about; apart from that it must be the same.
    bodies = {
        name: (status, kind, sans_request_id(body).replace("stu-" + "a" * 26, LISA))
        for name, (status, kind, body) in answers.items()
    }
    assert len(set(bodies.values())) == 1, bodies
    assert answers["no agreement"][0] == 404


# -- every path runs its enforcement point -------------------------------------------------

Call = tuple[str, tuple[str, frozenset[str], frozenset[str], frozenset[str]]]


@pytest.fixture
def points(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Each enforcement call as (point, (source, categories, regimes, sensitivities))."""
    calls: list[Call] = []
    original = enforcement.enforce

    def counting(point: str, request: Any, policy: Any, consents: Any, now: dt.datetime) -> Any:
        key = (request.source_org, request.categories, request.regimes, request.sensitivities)
        calls.append((point, key))
        return original(point, request, policy, consents, now)

    monkeypatch.setattr(enforcement, "enforce", counting)
    return calls


def element_keys(rt: Runtime) -> set[tuple[str, frozenset[str], frozenset[str], frozenset[str]]]:
    with rt.sessions() as session:
        plan = plan_store.get_plan(session, LISA)
        assert plan is not None
        elements = [e for _, e in iter_elements(plan.document)]
    return {
        (
            e["provenance"]["sourceOrganization"],
            frozenset({e["labels"]["category"]}),
            frozenset({e["labels"]["regime"]}),
            frozenset({e["labels"]["sensitivity"]}),
        )
        for e in elements
    }


def clinic_bundle() -> bytes:
    patients = json.loads(demo_file("05").read_text("utf-8"))
    screening = json.loads(demo_file("04").read_text("utf-8"))
    second = {**screening, "id": "hvs-second"}
    entries = [*patients["entry"], {"resource": screening}, {"resource": second}]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def test_inbound_runs_once_per_distinct_category_set(rt: Runtime, points: list[Call]) -> None:
    send_demo(rt, "01")
    assert [(p, k[1]) for p, k in points] == [("inbound", frozenset({"identity"}))]
    points.clear()
    summary = ingest(rt, Inbound(source_org=CLINIC, format_name="fhir-json", payload=clinic_bundle()))
    assert summary.outcome["accepted"] == 3
    assert sorted((p, sorted(k[1])) for p, k in points) == [
        ("inbound", ["identity"]),
        ("inbound", ["sdoh-screening"]),
    ]


def test_a_refused_inbound_ran_its_point(rt: Runtime, points: list[Call]) -> None:
    for agreement in ("gbisd-riverside-2026", "gbisd-northside-2026"):
        suspend(rt, agreement, by=DISTRICT, reason="audit finding")
    assert send_demo(rt, "01").status == "rejected"
    assert [p for p, _ in points] == ["inbound"]


def test_a_read_runs_once_per_distinct_element_key(lisa: Runtime, points: list[Call]) -> None:
    visible(lisa, DISTRICT, "coordinator", "care-coordination")
    assert [p for p, _ in points] == ["read"] * len(element_keys(lisa))
    assert {k for _, k in points} == element_keys(lisa)


def test_a_read_that_ends_not_found_still_ran_every_element(lisa: Runtime, points: list[Call]) -> None:
    assert visible(lisa, FOOD_BANK, "case-worker", "research") is None
    assert [p for p, _ in points] == ["read"] * len(element_keys(lisa))
    assert {k for _, k in points} == element_keys(lisa)


def test_an_export_runs_the_export_point(lisa: Runtime, points: list[Call]) -> None:
    request = ReadRequest(
        student_id=LISA, organization_id=DISTRICT, actor="t", role="coordinator", purpose="care-coordination"
    )
    export_plan(lisa, request)
    assert [p for p, _ in points] == ["export"] * len(element_keys(lisa))
    points.clear()
    with pytest.raises(NotFound):
        export_plan(lisa, dataclasses.replace(request, organization_id=FOOD_BANK, purpose="research"))
    assert [p for p, _ in points] == ["export"] * len(element_keys(lisa))
