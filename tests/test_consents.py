"""Consents through the service: checked whole on import (missing elements, wrong signer, unknown
terms), recorded from the family's terms, revoked from their time on (queued deliveries stop),
exported as FHIR and imported back, and linked to a student who arrives later."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from gateway.core.ids import student_id_for
from gateway.errors import AccessDenied, Conflict, InputInvalid, NotFound
from gateway.service.policy import consents
from gateway.service.policy.consent_forms import SCOPE_SYSTEM
from gateway.service.runtime import Runtime
from gateway.storage import audit_store
from gateway.storage.tables import Delivery
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import DISTRICT_IDS, LISA, coordinator_view, send_demo

CLINIC_CONSENT = "consent-0001-riverside-to-gbisd"
SAMPLE = PROJECT_ROOT / "consent_policies" / "samples" / "consents" / f"{CLINIC_CONSENT}.json"
CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
LISA_REF = f"{DISTRICT_IDS}|604822"  # born 2010-03-14: 16 at the clock's start (2026-11-23)
MARCUS = f"{DISTRICT_IDS}|604834"
CONTACT_IDS = "https://grandbend.example.org/ns/contactUniqueId"
MOTHER = (CONTACT_IDS, "777822")  # Lisa's mother: linked by the district's contact association (08)


def clinic_consent(**changes: Any) -> dict[str, Any]:
    """The sample clinic consent (screenings to the district) with top-level changes."""
    document: dict[str, Any] = json.loads(SAMPLE.read_text("utf-8"))
    return {**document, **changes}


def without(path: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document without the element at dotted ``path``."""
    result = copy.deepcopy(document or clinic_consent(id="consent-incomplete"))
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    del node[last]
    return result


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    """The demo world with Lisa's school record, clinic patient record and screening, and the
    district's record that links her mother (who signed the sample consents)."""
    for prefix in ("01", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


def sees_screening(rt: Runtime) -> bool:
    return bool(coordinator_view(rt).get("needs"))


def audit_of(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [dict(row.details) for row in audit_store.audit_entries(session, kind, 1000, 0)]


def record(rt: Runtime, **changes: Any) -> consents.ConsentSummary:
    """A consent the district records for Lisa (FERPA identity data to the food bank)."""
    terms: dict[str, Any] = {
        "student_ref": LISA_REF,
        "grantor": DISTRICT,
        "recipients": [FOOD_BANK],
        "categories": ["identity", "referral"],
        "purposes": ["referral-fulfillment"],
        "signer_role": "parent",
        "signer_identifier": MOTHER,
        "signed_at": dt.date(2026, 11, 1),
        "expires": dt.date(2027, 10, 31),
        "labels": ["FERPA"],
        "recorded_by": DISTRICT,
        **changes,
    }
    return consents.record_consent(rt, **terms)


# -- incomplete consents are rejected whole, each missing element named --------------------

INCOMPLETE = [
    ("what data", "provision.class", "Consent.provision.class"),
    ("to whom", "provision.actor", "Consent.provision.actor"),
    ("purpose", "provision.purpose", "Consent.provision.purpose"),
    ("signature", "performer", "Consent.performer"),
    ("date", "dateTime", "Consent.dateTime"),
    ("expiry", "provision.period.end", "Consent.provision.period.end"),
    ("student", "patient", "Consent.patient"),
]


@pytest.mark.parametrize(("element", "removed", "named"), INCOMPLETE, ids=[row[0] for row in INCOMPLETE])
def test_an_incomplete_consent_is_rejected_naming_the_missing_element(
    rt: Runtime, element: str, removed: str, named: str
) -> None:
    before = len(consents.list_consents(rt))
    with pytest.raises(InputInvalid) as caught:
        consents.import_consent(rt, without(removed), recorded_by=CLINIC)
    assert [issue.path for issue in caught.value.issues] == [named]
    assert element in caught.value.issues[0].message
    assert "nothing was stored" in caught.value.message
    assert len(consents.list_consents(rt)) == before


def test_every_missing_element_is_named_at_once(rt: Runtime) -> None:
    document = clinic_consent(id="consent-empty")
    for removed in ("provision", "performer", "dateTime", "patient"):
        document = without(removed, document)
    with pytest.raises(InputInvalid) as caught:
        consents.import_consent(rt, document, recorded_by=CLINIC)
    assert sorted(issue.path for issue in caught.value.issues) == sorted(named for *_, named in INCOMPLETE)


# -- unknown terms are problems too (a term the gateway cannot read would widen a grant) ---

PROVISION = clinic_consent()["provision"]
UNKNOWN_TERMS = [
    ("purpose code", {"purpose": [{"code": "MARKETING"}]}, "Consent.provision.purpose[0]"),
    ("security label", {"securityLabel": [{"code": "XYZ"}]}, "Consent.provision.securityLabel[0]"),
    (
        "category",
        {"class": [{"system": "https://success-plan-gateway.org/data-categories", "code": "grades"}]},
        "Consent.provision.class[0].code",
    ),
    (
        "category system",
        {"class": [{"system": "http://loinc.org", "code": "1"}]},
        "Consent.provision.class[0].system",
    ),
    (
        "recipient",
        {"actor": [{**PROVISION["actor"][0], "reference": {"reference": "Organization/acme"}}]},
        "Consent.provision.actor[0].reference",
    ),
]


@pytest.mark.parametrize(("term", "change", "named"), UNKNOWN_TERMS, ids=[row[0] for row in UNKNOWN_TERMS])
def test_unknown_terms_are_rejected(rt: Runtime, term: str, change: dict[str, Any], named: str) -> None:
    document = clinic_consent(id="consent-odd", provision={**PROVISION, **change})
    with pytest.raises(InputInvalid) as caught:
        consents.import_consent(rt, document, recorded_by=CLINIC)
    assert named in [issue.path for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"id": "c" * 70}, "Consent.id", id="id too long"),
        pytest.param({"status": "revoked"}, "Consent.status", id="status"),
        pytest.param(
            {"scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "all"}]}}, "Consent.scope.coding[0].code"
        ),
    ],
)
def test_codes_the_r4_models_leave_open_are_checked(rt: Runtime, change: dict[str, Any], named: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        consents.import_consent(rt, clinic_consent(**change), recorded_by=CLINIC)
    assert [issue.path for issue in caught.value.issues] == [named]


def test_an_invalid_fhir_consent_names_its_problems_and_no_values(rt: Runtime) -> None:
    document = clinic_consent(id="consent-bad", status=None, dateTime="604822")
    with pytest.raises(InputInvalid) as caught:
        consents.import_consent(rt, document, recorded_by=CLINIC)
    assert {"Consent.status", "Consent.dateTime"} <= {issue.path for issue in caught.value.issues}
    assert "604822" not in str(caught.value)


# -- who may consent, checked at the signing time when the birth date is known -------------

SIGNERS = [
    # (signer, categories, labels, signed on, clock at, problem or None)
    ("parent", ["identity"], ["FERPA"], dt.date(2026, 11, 1), None, None),
    ("parent", ["identity"], ["FERPA"], dt.date(2028, 4, 1), dt.date(2028, 4, 2), "18 or older"),
    ("student", ["identity"], ["FERPA"], dt.date(2028, 4, 1), dt.date(2028, 4, 2), None),
    ("student", ["identity"], ["FERPA"], dt.date(2026, 11, 1), None, "under 18"),
    ("parent", ["substance-use"], [], dt.date(2026, 11, 1), None, "42 CFR 2.14"),
    ("guardian", ["identity"], ["42CFRPart2"], dt.date(2026, 11, 1), None, "42 CFR 2.14"),
    ("student", ["substance-use"], ["42CFRPart2"], dt.date(2026, 11, 1), None, None),
]


@pytest.mark.parametrize(
    ("signer", "categories", "labels", "signed", "today", "problem"),
    SIGNERS,
    ids=[f"{r[0]}-{'+'.join(r[1] + r[2])}-{r[3]}" for r in SIGNERS],
)
def test_who_may_consent(
    lisa: Runtime,
    clock: Clock,
    signer: str,
    categories: list[str],
    labels: list[str],
    signed: dt.date,
    today: dt.date | None,
    problem: str | None,
) -> None:
    if today is not None:
        clock.now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    terms = {"signer_role": signer, "categories": categories, "labels": labels, "signed_at": signed}
    terms["expires"] = signed + dt.timedelta(days=365)
    if problem is None:
        assert record(lisa, **terms).created
        return
    with pytest.raises(InputInvalid) as caught:
        record(lisa, **terms)
    [issue] = caught.value.issues
    assert (issue.path, problem in issue.message) == ("Consent.performer", True)


def test_the_signer_is_checked_later_when_the_birth_date_is_unknown(rt: Runtime) -> None:
    # Marcus has no records yet: the student's own signature is stored, and counts for nothing
    # until a decision can check it against his birth date.
    summary = record(rt, student_ref=MARCUS, signer_role="student")
    assert (summary.created, summary.student_id) == (True, None)


# -- who may record, idempotence, conflicts ------------------------------------------------


def test_only_the_grantor_may_record_a_consent(rt: Runtime) -> None:
    with pytest.raises(AccessDenied):
        consents.import_consent(rt, clinic_consent(id="consent-x"), recorded_by=DISTRICT)


def test_the_same_consent_twice_is_stored_once_and_a_changed_one_conflicts(rt: Runtime) -> None:
    document = clinic_consent(id="consent-again")
    first = consents.import_consent(rt, document, recorded_by=CLINIC)
    again = consents.import_consent(rt, document, recorded_by=CLINIC)
    assert (first.created, again.created) == (True, False)
    assert again.document_digest == first.document_digest
    assert [a["consentId"] for a in audit_of(rt, "consent.recorded")] == ["consent-again"]
    with pytest.raises(Conflict):
        consents.import_consent(rt, {**document, "status": "draft"}, recorded_by=CLINIC)


def test_a_recorded_consent_reads_back_the_family_terms_and_its_id_is_derived(lisa: Runtime) -> None:
    summary = record(lisa)
    assert (summary.grantor, summary.recipients, summary.purposes) == (
        DISTRICT,
        (FOOD_BANK,),
        ("referral-fulfillment",),
    )
    assert (summary.categories, summary.labels, summary.signer_role) == (
        ("identity", "referral"),
        ("FERPA",),
        "parent",
    )
    assert (summary.student_id, summary.state, summary.expires.date()) == (
        LISA,
        "active",
        dt.date(2027, 10, 31),
    )
    assert record(lisa).id == summary.id
    assert not record(lisa).created


def test_a_consent_recorded_by_student_id_names_the_grantors_identifier(lisa: Runtime) -> None:
    summary = record(lisa, student_ref=LISA, grantor=CLINIC, recorded_by=CLINIC, recipients=[DISTRICT])
    patient = consents.export_consent(lisa, summary.id)["patient"]["identifier"]
    assert patient["system"] == "https://riverside-health.example.org/fhir/Patient"
    assert summary.student_id == LISA


def test_a_term_without_a_code_cannot_be_recorded(lisa: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        record(lisa, purposes=["referral-fulfillment", "educational-interest"], labels=["nonsense"])
    assert [issue.path for issue in caught.value.issues] == ["purposes[1]", "labels[0]"]


def test_audit_entries_hold_no_patient_identifier(lisa: Runtime) -> None:
    summary = record(lisa)
    consents.revoke_consent(lisa, summary.id, by=DISTRICT)
    entries = json.dumps(audit_of(lisa, "consent.recorded") + audit_of(lisa, "consent.revoked"))
    assert summary.id in entries
    assert "604822" not in entries


# -- revocation ----------------------------------------------------------------------------


def test_a_read_permitted_by_a_consent_is_denied_after_it_is_revoked(lisa: Runtime, clock: Clock) -> None:
    assert sees_screening(lisa)
    clock.advance(minutes=5)
    revoked = consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    assert (revoked.state, revoked.revoked_at) == ("revoked", clock.now)
    assert not sees_screening(lisa)


def test_revoking_twice_equals_revoking_once(lisa: Runtime, clock: Clock) -> None:
    first = consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    clock.advance(days=3)
    second = consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    assert second.revoked_at == first.revoked_at
    assert second == first
    assert len(audit_of(lisa, "consent.revoked")) == 1


def test_an_earlier_revocation_time_moves_it_earlier(lisa: Runtime, clock: Clock) -> None:
    clock.advance(days=3)
    consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    earlier = clock.now - dt.timedelta(days=2)
    assert consents.revoke_consent(lisa, CLINIC_CONSENT, at=earlier, by=CLINIC).revoked_at == earlier


@pytest.mark.parametrize(
    ("at", "by", "error"),
    [
        pytest.param(dt.datetime(2027, 1, 1, tzinfo=dt.UTC), CLINIC, InputInvalid, id="in the future"),
        pytest.param(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), CLINIC, InputInvalid, id="before signing"),
        pytest.param(dt.datetime(2026, 1, 1), CLINIC, InputInvalid, id="no offset"),
        pytest.param(None, FOOD_BANK, AccessDenied, id="by an organization it does not name"),
    ],
)
def test_a_revocation_that_cannot_hold_changes_nothing(
    lisa: Runtime, at: dt.datetime | None, by: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        consents.revoke_consent(lisa, CLINIC_CONSENT, at=at, by=by)
    assert sees_screening(lisa)


def test_an_unknown_consent_cannot_be_revoked(rt: Runtime) -> None:
    with pytest.raises(NotFound):
        consents.revoke_consent(rt, "consent-nope", by=CLINIC)


def food_bank_consent(consent_id: str, **changes: Any) -> dict[str, Any]:
    """The district's referral consent turned around: the food bank lets the district know."""
    path = PROJECT_ROOT / "consent_policies" / "samples" / "consents" / "consent-0002-gbisd-to-northside.json"
    document = json.loads(path.read_text("utf-8"))
    document["organization"][0]["identifier"]["value"] = FOOD_BANK
    document["provision"]["actor"][0]["reference"]["identifier"]["value"] = DISTRICT
    return {**document, "id": consent_id, **changes}


def test_a_foreign_consent_id_is_scoped_not_revealed(rt: Runtime) -> None:
    """The food bank records a consent under the clinic's consent id: no 409 tells it that id is
    taken; each organization reads its own, and the clinic's is untouched."""
    clinic_doc = consents.export_consent(rt, CLINIC_CONSENT, party=CLINIC)
    own = consents.import_consent(rt, food_bank_consent(CLINIC_CONSENT), recorded_by=FOOD_BANK)
    assert (own.id, own.created, own.grantor) == (CLINIC_CONSENT, True, FOOD_BANK)
    assert consents.export_consent(rt, CLINIC_CONSENT, party=CLINIC) == clinic_doc
    mine = consents.export_consent(rt, CLINIC_CONSENT, party=FOOD_BANK)
    assert (mine["id"], mine["organization"][0]["identifier"]["value"]) == (CLINIC_CONSENT, FOOD_BANK)
    # Within its own organization the id is taken: a different consent under it is a conflict.
    changed = food_bank_consent(CLINIC_CONSENT, dateTime="2025-09-19T10:00:00Z")
    with pytest.raises(Conflict):
        consents.import_consent(rt, changed, recorded_by=FOOD_BANK)


# (who revokes the clinic's consent to share with the district, who asked, what happens)
REVOCATION_RIGHTS = [
    pytest.param(CLINIC, "parent", None, id="the recorder, for a parent"),
    pytest.param(DISTRICT, "student", None, id="a recipient it names, for the student"),
    pytest.param(FOOD_BANK, "organization", AccessDenied, id="an organization it does not name"),
    pytest.param(CLINIC, "uncle", InputInvalid, id="an unknown requester"),
]


@pytest.mark.parametrize(("by", "requested_by", "refused"), REVOCATION_RIGHTS)
def test_who_may_revoke_and_who_asked(
    rt: Runtime, by: str, requested_by: str, refused: type[Exception] | None
) -> None:
    if refused is not None:
        with pytest.raises(refused):
            consents.revoke_consent(rt, CLINIC_CONSENT, by=by, requested_by=requested_by)
        return
    consents.revoke_consent(rt, CLINIC_CONSENT, by=by, requested_by=requested_by)
    with rt.sessions() as session:
        [entry] = audit_store.audit_entries(session, "consent.revoked", 10, 0)
    assert (entry.actor, entry.details["revokedBy"], entry.details["requestedBy"]) == (by, by, requested_by)


def delivery(rt: Runtime, delivery_id: str, status: str, consent_ids: list[str]) -> Delivery:
    now = rt.now()
    return Delivery(
        id=delivery_id,
        student_id=LISA,
        source_org=DISTRICT,
        recipient_org=FOOD_BANK,
        kind="referral",
        purpose="referral-fulfillment",
        role="case-worker",
        categories=["identity", "referral"],
        payload={},
        body=b"{}",
        body_digest="sha256:" + "0" * 64,
        idempotency_key=delivery_id,
        status=status,
        consent_ids=consent_ids,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def test_revocation_cancels_the_queued_deliveries_that_rely_on_the_consent(lisa: Runtime) -> None:
    consent = record(lisa)
    rows = {
        "d-relies": ("queued", [consent.id, "consent-other"]),
        "d-other": ("queued", ["consent-other"]),
        "d-sent": ("sent", [consent.id]),
    }
    with lisa.sessions.begin() as session:
        session.add_all(delivery(lisa, i, status, ids) for i, (status, ids) in rows.items())
    revoked = consents.revoke_consent(lisa, consent.id, by=DISTRICT)
    with lisa.sessions() as session:
        after = {i: (session.get(Delivery, i).status, session.get(Delivery, i).reason) for i in rows}
    assert after == {
        "d-relies": ("cancelled", f"consent {consent.id} was revoked"),
        "d-other": ("queued", None),
        "d-sent": ("sent", None),
    }
    assert revoked.cancelled_deliveries == 1
    assert audit_of(lisa, "consent.revoked")[0]["cancelledDeliveries"] == 1


# -- export and import back ----------------------------------------------------------------


def test_export_then_import_under_a_new_id_gives_the_same_decision(lisa: Runtime, clock: Clock) -> None:
    exported = consents.export_consent(lisa, CLINIC_CONSENT)
    assert exported == clinic_consent()
    consents.import_consent(lisa, {**exported, "id": "consent-copy"}, recorded_by=CLINIC)
    clock.advance(minutes=1)
    consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    view = coordinator_view(lisa)
    assert view["needs"]
    assert "consent-copy" in [c.id for c in consents.list_consents(lisa, LISA_REF)]


def test_a_revoked_consent_exports_inactive_and_imports_back_as_no_permit(
    lisa: Runtime, clock: Clock
) -> None:
    clock.advance(minutes=1)
    revoked = consents.revoke_consent(lisa, CLINIC_CONSENT, by=CLINIC)
    exported = consents.export_consent(lisa, CLINIC_CONSENT)
    assert exported["status"] == "inactive"
    assert dt.datetime.fromisoformat(exported["provision"]["period"]["end"]) == revoked.revoked_at
    copy_ = consents.import_consent(lisa, {**exported, "id": "consent-copy"}, recorded_by=CLINIC)
    assert copy_.state == "inactive"
    assert not sees_screening(lisa)


def test_someone_elses_consent_is_not_exported(rt: Runtime) -> None:
    with pytest.raises(NotFound):
        consents.export_consent(rt, CLINIC_CONSENT, party=FOOD_BANK)
    assert consents.export_consent(rt, CLINIC_CONSENT, party=DISTRICT)["id"] == CLINIC_CONSENT


# -- a consent recorded before its student exists is linked later --------------------------


def test_a_consent_recorded_before_the_student_exists_is_linked_when_they_arrive(rt: Runtime) -> None:
    early = record(rt, student_ref=MARCUS)
    assert early.student_id is None
    assert [c.id for c in consents.list_consents(rt, MARCUS)] == [early.id]
    send_demo(rt, "01")
    [linked] = consents.list_consents(rt, MARCUS)
    assert (linked.id, linked.student_id) == (early.id, student_id_for(DISTRICT_IDS, "604834"))
    assert [c.id for c in consents.list_consents(rt, linked.student_id)] == [early.id]


@pytest.mark.parametrize("party", [CLINIC, DISTRICT, FOOD_BANK])
def test_list_by_party_shows_only_that_partys_consents(rt: Runtime, party: str) -> None:
    samples = [json.loads(path.read_text("utf-8")) for path in SAMPLE.parent.glob("*.json")]
    expected = sorted(
        doc["id"] for doc in samples if party in json.dumps(doc["organization"] + [doc["provision"]])
    )
    assert [c.id for c in consents.list_consents(rt, party=party)] == expected
    assert expected  # each demo partner grants or receives a sample consent


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_records_lists_revokes_and_exports(spgw) -> None:
    today = dt.datetime.now(dt.UTC).date()
    signed, expires = (
        (today - dt.timedelta(days=30)).isoformat(),
        (today + dt.timedelta(days=300)).isoformat(),
    )
    code, output = spgw(
        "consents", "record", MARCUS, "--grantor", DISTRICT, "--to", FOOD_BANK, "--category", "identity",
        "--purpose", "referral-fulfillment", "--signer", "parent", "--signed", signed,
        "--signer-system", CONTACT_IDS, "--signer-value", "777834", "--expires", expires, "--json",
    )  # fmt: skip
    assert code == 0, output
    consent_id = json.loads(output)["id"]
    code, output = spgw("consents", "list", "--student", MARCUS)
    assert (code, consent_id in output, "active" in output) == (0, True, True)
    code, output = spgw("consents", "revoke", consent_id, "--by", CLINIC)
    assert (code, json.loads(output)["error"]["code"]) == (2, "access_denied")
    code, output = spgw(
        "consents", "revoke", consent_id, "--by", FOOD_BANK, "--requested-by", "parent", "--json"
    )
    assert (code, json.loads(output)["state"]) == (0, "revoked")
    code, output = spgw("consents", "export", consent_id)
    assert (code, json.loads(output)["status"]) == (0, "inactive")


def test_cli_imports_files_and_reports_each_refusal(spgw, tmp_path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(clinic_consent(id="consent-file")), "utf-8")
    bad.write_text(json.dumps(without("dateTime")), "utf-8")
    code, output = spgw("consents", "import", str(good), str(bad), "--by", CLINIC)
    assert code == 2
    assert "good.json: recorded consent-file" in output
    assert "bad.json: refused" in output
    assert "Consent.dateTime: required element missing" in output
