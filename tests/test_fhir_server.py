"""The FHIR R4 server: capabilities, create, read, vread, search, update, patch, and the policy
decision point on every read. Each answer is checked against the OpenAPI document (``Clinic``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from gateway.service.runtime import Runtime
from gateway.web import create_app
from gateway.web.fhir_routes import ROUTES, SERVED_TYPES
from tests.helpers import LISA, send_demo
from tests.referral_world import DISTRICT, FOOD_BANK, prepare, refer_lisa, revoke_consent
from tests.test_fhir_api import FHIR_JSON, OO, PATIENT, SCREENING, Clinic, dumps

CLINIC = "riverside-health"
MRN = "https://riverside-health.example.org/mrn"
HVS = "http://loinc.org|88124-3"
SDOH = "http://terminology.hl7.org/CodeSystem/observation-category|survey"


def partner(rt: Runtime, org: str, **token_fields: str) -> Clinic:
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))[org]
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret, **token_fields})
    assert answer.status_code == 200, answer.get_json()
    return Clinic(client=client, headers={"Authorization": f"Bearer {answer.get_json()['access_token']}"})


@pytest.fixture
def clinic(rt: Runtime) -> Clinic:
    send_demo(rt, "01")  # the district's students, so Lisa can be linked
    return partner(rt, CLINIC)


def created(clinic: Clinic, resource: dict[str, Any], **headers: str) -> dict[str, Any]:
    answer = clinic.post(f"/fhir/r4/{resource['resourceType']}", dumps(resource), **headers)
    assert answer.status_code in (200, 201), answer.get_json()
    return dict(answer.get_json())


def bundle_ids(answer: Any) -> list[str]:
    return [e["resource"]["id"] for e in answer.get_json().get("entry", []) if e["search"]["mode"] == "match"]


def screening(patient_id: str, day: str, answer_code: str = "LA28397-0") -> dict[str, Any]:
    return {
        **{k: v for k, v in SCREENING.items() if k != "id"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"{day}T10:00:00Z",
    }


# -- capabilities ----------------------------------------------------------------------------


def test_the_capability_statement_is_public_and_says_what_routes(clinic: Clinic) -> None:
    answer = clinic.call("get", "/fhir/r4/metadata", Authorization="")
    assert answer.status_code == 200
    statement = answer.get_json()
    rest = statement["rest"][0]
    assert statement["fhirVersion"] == "4.0.1"
    assert sorted(r["type"] for r in rest["resource"]) == sorted(SERVED_TYPES)
    task = next(r for r in rest["resource"] if r["type"] == "Task")
    declared = {r.interaction for r in ROUTES if r.level == "type" and r.interaction}
    assert {i["code"] for i in task["interaction"]} == declared
    assert {"owner", "status", "focus"} <= {p["name"] for p in task["searchParam"]}
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    xml = clinic.client.get("/fhir/r4/metadata/?_format=xml")  # a trailing slash is accepted
    assert (xml.status_code, xml.mimetype) == (200, "application/fhir+xml")


# -- create, read, vread ---------------------------------------------------------------------


def test_a_create_without_id_gets_a_server_id_a_location_and_a_version(clinic: Clinic) -> None:
    patient = {k: v for k, v in PATIENT.items() if k != "id"}
    answer = clinic.post("/fhir/r4/Patient", dumps(patient))
    assert answer.status_code == 201
    body = answer.get_json()
    assert answer.headers["Location"].endswith(f"/fhir/r4/Patient/{body['id']}/_history/1")
    assert answer.headers["ETag"] == 'W/"1"'
    assert answer.headers["Last-Modified"].endswith("GMT")
    read = clinic.call("get", f"/fhir/r4/Patient/{body['id']}")
    assert (read.status_code, read.get_json()["name"]) == (200, PATIENT["name"])
    vread = clinic.call("get", f"/fhir/r4/Patient/{body['id']}/_history/1")
    assert (vread.status_code, vread.get_json()["meta"]["versionId"]) == (200, "1")
    assert clinic.call("get", f"/fhir/r4/Patient/{body['id']}/_history/9").status_code == 404


def test_a_client_id_is_kept_as_an_identifier_and_references_to_it_follow(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    assert patient["id"] != PATIENT["id"]
    # a Patient's own id is kept in the sender's Patient-id system (its registration names it)
    kept = {"system": "https://riverside-health.example.org/fhir/Patient", "value": PATIENT["id"]}
    assert kept in patient["identifier"]
    observation = created(clinic, {**SCREENING, "subject": {"reference": f"Patient/{PATIENT['id']}"}})
    assert observation["subject"]["reference"] == f"Patient/{patient['id']}"


@pytest.mark.parametrize(
    ("prefer", "body_type"),
    [
        ("return=minimal", None),
        ("return=representation", "Patient"),
        ("return=OperationOutcome", "OperationOutcome"),
    ],
)
def test_prefer_chooses_what_a_create_answers(clinic: Clinic, prefer: str, body_type: str | None) -> None:
    answer = clinic.post("/fhir/r4/Patient", dumps(PATIENT), Prefer=prefer)
    assert answer.status_code == 201
    assert "Location" in answer.headers
    assert (answer.get_json()["resourceType"] if answer.get_data() else None) == body_type


def test_a_conditional_create_sent_twice_creates_once(clinic: Clinic) -> None:
    condition = f"identifier={MRN}|MRN-55810"
    first = clinic.post("/fhir/r4/Patient", dumps(PATIENT), **{"If-None-Exist": condition})
    again = clinic.post("/fhir/r4/Patient", dumps(PATIENT), **{"If-None-Exist": condition})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    search = clinic.call("get", f"/fhir/r4/Patient?identifier={MRN}|MRN-55810")
    assert search.get_json()["total"] == 1


def test_a_conditional_create_matching_several_is_refused(clinic: Clinic) -> None:
    created(clinic, PATIENT)
    created(clinic, PATIENT)
    answer = clinic.post(
        "/fhir/r4/Patient", dumps(PATIENT), **{"If-None-Exist": f"identifier={MRN}|MRN-55810"}
    )
    assert answer.status_code == 412
    assert answer.get_json()["issue"][0]["code"] == "conflict"


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def screenings(clinic: Clinic) -> tuple[Clinic, str, list[str]]:
    patient = created(clinic, PATIENT)
    days = ["2026-09-01", "2026-10-01", "2026-11-01"]
    ids = [created(clinic, screening(patient["id"], day))["id"] for day in days]
    return clinic, patient["id"], ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("patient={patient}", [0, 1, 2]),
        ("patient=Patient/{patient}&date=ge2026-10-01", [1, 2]),
        ("subject=Patient/{patient}&date=lt2026-10-01", [0]),
        ("patient={patient}&date=2026-10", [1]),
        ("patient={patient}&date=gt2026-10-01", [2]),
        ("patient={patient}&date=le2026-10-01", [0, 1]),
        ("patient={patient}&code=" + HVS, [0, 1, 2]),
        ("patient={patient}&code=http://loinc.org|", [0, 1, 2]),
        ("patient={patient}&code=http://snomed.info/sct|", []),
        ("patient={patient}&category=" + SDOH + ",laboratory", [0, 1, 2]),
        ("patient=Patient/nobody", []),
        ("_id={id1}", [1]),
    ],
)
def test_observation_search_finds_by_patient_category_code_and_date(
    screenings: tuple[Clinic, str, list[str]], query: str, expected: list[int]
) -> None:
    clinic, patient, ids = screenings
    answer = clinic.call("get", "/fhir/r4/Observation?" + query.format(patient=patient, id1=ids[1]))
    assert answer.status_code == 200
    # one clock in the tests: equal _lastUpdated, so the order is by id
    assert bundle_ids(answer) == sorted(ids[i] for i in expected)
    assert answer.get_json()["total"] == len(expected)


def test_search_pages_with_count_and_next_links(screenings: tuple[Clinic, str, list[str]]) -> None:
    clinic, patient, ids = screenings
    seen, url = [], f"/fhir/r4/Observation?patient={patient}&_count=2"
    while url:
        answer = clinic.call("get", url)
        body = answer.get_json()
        assert body["total"] == 3
        seen += bundle_ids(answer)
        following = [link["url"] for link in body["link"] if link["relation"] == "next"]
        url = following[0].split("http://localhost", 1)[-1] if following else ""
    assert seen == sorted(ids)
    count = clinic.call("get", f"/fhir/r4/Observation?patient={patient}&_summary=count").get_json()
    assert (count["total"], "entry" in count) == (3, False)
    posted = clinic.call(
        "post",
        "/fhir/r4/Observation/_search",
        f"patient={patient}".encode(),
        "application/x-www-form-urlencoded",
    )
    assert bundle_ids(posted) == sorted(ids)


def test_include_brings_the_referenced_resource(screenings: tuple[Clinic, str, list[str]]) -> None:
    clinic, patient, _ = screenings
    answer = clinic.call("get", f"/fhir/r4/Observation?patient={patient}&_include=Observation:patient")
    included = [e["resource"]["id"] for e in answer.get_json()["entry"] if e["search"]["mode"] == "include"]
    assert included == [patient]


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("date=ne2026-01-01", {}, 400),
        ("date=2026-13-45", {}, 400),
        ("_count=many", {}, 400),
        ("_include=Observation:code", {}, 400),
        ("code:above=x", {}, 400),
        ("unknown-parameter=1", {}, 200),
        ("unknown-parameter=1", {"Prefer": "handling=strict"}, 400),
    ],
)
def test_search_parameters_are_read_or_refused_with_their_name(
    clinic: Clinic, query: str, headers: dict[str, str], status: int
) -> None:
    answer = clinic.call("get", "/fhir/r4/Observation?" + query, **headers)
    assert answer.status_code == status
    if status == 400:
        assert answer.get_json()["issue"][0]["location"] == [query.split("=")[0]]


def test_unknown_types_ids_and_methods_are_operation_outcomes(clinic: Clinic) -> None:
    assert clinic.call("get", "/fhir/r4/Patinet").status_code == 404
    assert clinic.call("get", "/fhir/r4/Patient/no-such-id").get_json()["issue"][0]["code"] == "not-found"
    assert clinic.call("delete", "/fhir/r4/Patient/no-such-id").status_code == 405


# -- update and patch ------------------------------------------------------------------------


def test_an_update_makes_a_new_version_and_a_stale_if_match_is_refused(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    path = f"/fhir/r4/Patient/{patient['id']}"
    changed = {**patient, "birthDate": "2010-03-15"}
    updated = clinic.call("put", path, dumps(changed), **{"If-Match": 'W/"1"'})
    assert (updated.status_code, updated.headers["ETag"]) == (200, 'W/"2"')
    assert updated.get_json()["birthDate"] == "2010-03-15"
    stale = clinic.call("put", path, dumps(changed), **{"If-Match": 'W/"1"'})
    assert (stale.status_code, stale.get_json()["issue"][0]["code"]) == (412, "conflict")
    assert clinic.call("get", path + "/_history/1").get_json()["birthDate"] == PATIENT["birthDate"]
    unchecked = clinic.call("put", path, dumps({**changed, "gender": "female"}))
    assert (unchecked.status_code, unchecked.headers["ETag"]) == (200, 'W/"3"')
    wrong_id = clinic.call("put", path, dumps({**changed, "id": "another"}))
    assert wrong_id.status_code == 400


def test_a_json_patch_applies_to_the_current_version(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    operations = [{"op": "replace", "path": "/birthDate", "value": "2010-03-16"}]
    path = f"/fhir/r4/Patient/{patient['id']}"
    answer = clinic.call("patch", path, json.dumps(operations).encode(), "application/json-patch+json")
    assert (answer.status_code, answer.get_json()["birthDate"]) == (200, "2010-03-16")
    stale = clinic.call(
        "patch", path, json.dumps(operations).encode(), "application/json-patch+json", **{"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    broken = [{"op": "remove", "path": "/nothing/here"}]
    assert (
        clinic.call("patch", path, json.dumps(broken).encode(), "application/json-patch+json").status_code
        == 400
    )


# -- the policy decision point on every read --------------------------------------------------


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    prepare(rt, "http://127.0.0.1:9/unused")  # Lisa's records from the district and the clinic
    send_demo(rt, "04")  # the clinic's screening, replayed once the patient is linked
    from gateway.service.exchange.ingest import replay_where

    replay_where(rt)
    return rt


def test_a_reader_sees_what_its_agreements_and_consents_allow_and_nothing_else_is_counted(
    world: Runtime,
) -> None:
    district, food_bank = partner(world, DISTRICT), partner(world, FOOD_BANK)
    clinic = partner(world, CLINIC)
    mine = clinic.call("get", "/fhir/r4/Observation").get_json()
    assert mine["total"] >= 1
    # The coordinator's consent and agreement cover the clinic's screenings: the same total.
    seen = district.call("get", "/fhir/r4/Observation").get_json()
    assert seen["total"] == mine["total"]
    # The food bank receives identity and referrals only: no screening, and none counted.
    hidden = food_bank.call("get", "/fhir/r4/Observation").get_json()
    assert (hidden["total"], "entry" in hidden) == (0, False)
    one = mine["entry"][0]["resource"]["id"]
    assert food_bank.call("get", f"/fhir/r4/Observation/{one}").get_json()["issue"][0]["code"] == "not-found"
    assert district.call("get", f"/fhir/r4/Observation/{one}").status_code == 200


def test_a_revoked_consent_hides_the_records_on_the_next_read(world: Runtime) -> None:
    district = partner(world, DISTRICT)
    before = district.call("get", "/fhir/r4/Observation").get_json()["total"]
    assert before >= 1
    revoke_consent(world, "consent-0001-riverside-to-gbisd")
    assert district.call("get", "/fhir/r4/Observation").get_json()["total"] == 0


def test_reads_and_searches_are_audited_by_id_without_content(world: Runtime) -> None:
    district = partner(world, DISTRICT)
    district.call("get", "/fhir/r4/Observation")
    with world.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT kind, details FROM audit_entries"
                " WHERE kind IN ('fhir.search', 'disclosure') ORDER BY seq"
            )
        ).all()
    kinds = [r[0] for r in rows]
    assert "fhir.search" in kinds
    assert "disclosure" in kinds
    assert "Lisa" not in json.dumps([r[1] for r in rows], default=str)


# -- an agency without a FHIR server of its own ("direct light") ------------------------------


def test_an_agency_polls_its_tasks_and_moves_one_to_completed(world: Runtime) -> None:
    referral = refer_lisa(world)
    food_bank = partner(world, FOOD_BANK)
    polled = food_bank.call(
        "get", f"/fhir/r4/Task?owner=Organization/{FOOD_BANK}&status=requested&_include=Task:focus"
    )
    entries = polled.get_json()["entry"]
    task = next(e["resource"] for e in entries if e["search"]["mode"] == "match")
    focus = next(e["resource"] for e in entries if e["search"]["mode"] == "include")
    assert task["focus"]["reference"] == f"ServiceRequest/{focus['id']}"
    assert task["identifier"][0]["value"] == referral.id
    path = f"/fhir/r4/Task/{task['id']}"
    accepted = food_bank.call("put", path, dumps({**task, "status": "accepted"}), **{"If-Match": 'W/"1"'})
    assert (accepted.status_code, accepted.get_json()["status"]) == (200, "accepted")
    done = [
        {"op": "replace", "path": "/status", "value": "completed"},
        {"op": "add", "path": "/output", "value": [_procedure_output()]},
    ]
    completed = food_bank.call("patch", path, json.dumps(done).encode(), "application/json-patch+json")
    assert (completed.status_code, completed.get_json()["status"]) == (200, "completed")
    support = _referral_support(world, referral.id)
    assert (support["referralStatus"], support["outcome"]) == ("completed", "Food pantry enrollment")
    assert (
        food_bank.call("get", f"/fhir/r4/Task?owner=Organization/{FOOD_BANK}&status=requested").get_json()[
            "total"
        ]
        == 0
    )


def _procedure_output() -> dict[str, Any]:
    return {
        "type": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes",
                    "code": "resulting-activity",
                }
            ]
        },
        "valueReference": {"reference": "Procedure/pantry-1", "display": "Food pantry enrollment"},
    }


def _referral_support(rt: Runtime, delivery_id: str) -> dict[str, Any]:
    from gateway.storage import plan_store

    with rt.sessions() as session:
        plan = plan_store.get_plan(session, LISA)
        assert plan is not None
        return next(s for s in plan.document["supports"] if s["service"]["code"] == delivery_id)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"status": "completed", "intent": "plan"}, 400),  # only the performer's fields
        ({"status": "draft"}, 409),  # backwards on the Gravity machine
        ({"status": "ready"}, 400),  # not a referral Task status
    ],
)
def test_an_agency_changes_only_what_the_ig_lets_a_performer_change(
    world: Runtime, change: dict[str, Any], status: int
) -> None:
    refer_lisa(world)
    food_bank = partner(world, FOOD_BANK)
    task = food_bank.call("get", f"/fhir/r4/Task?owner=Organization/{FOOD_BANK}").get_json()["entry"][0][
        "resource"
    ]
    answer = food_bank.call("put", f"/fhir/r4/Task/{task['id']}", dumps({**task, **change}))
    assert answer.status_code == status


def test_no_one_else_may_change_a_referral_task_or_another_partners_resource(world: Runtime) -> None:
    refer_lisa(world)
    food_bank, clinic = partner(world, FOOD_BANK), partner(world, CLINIC)
    task = food_bank.call("get", f"/fhir/r4/Task?owner=Organization/{FOOD_BANK}").get_json()["entry"][0][
        "resource"
    ]
    assert (
        clinic.call("put", f"/fhir/r4/Task/{task['id']}", dumps({**task, "status": "accepted"})).status_code
        == 404
    )
    district = partner(world, DISTRICT)
    observation = clinic.call("get", "/fhir/r4/Observation").get_json()["entry"][0]["resource"]
    refused = district.call("put", f"/fhir/r4/Observation/{observation['id']}", dumps(observation))
    assert (refused.status_code, refused.get_json()["issue"][0]["code"]) == (403, "forbidden")


def test_a_held_create_is_stored_and_readable_by_its_sender(clinic: Clinic) -> None:
    answer = clinic.post("/fhir/r4/Observation", dumps(SCREENING))
    assert answer.status_code == 201
    read = clinic.call("get", f"/fhir/r4/Observation/{answer.get_json()['id']}")
    assert read.status_code == 200


def test_scopes_limit_what_a_token_may_do(rt: Runtime) -> None:
    send_demo(rt, "01")
    reader = partner(rt, CLINIC, scope="system/Patient.rs")
    refused = reader.post("/fhir/r4/Patient", dumps(PATIENT), **OO)
    assert (refused.status_code, refused.get_json()["issue"][0]["code"]) == (403, "forbidden")
    assert reader.call("get", "/fhir/r4/Patient").status_code == 200
    assert reader.call("get", "/fhir/r4/Observation").status_code == 403


def test_json_and_xml_answers_agree(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    xml = clinic.call("get", f"/fhir/r4/Patient/{patient['id']}?_format=xml")
    assert xml.mimetype == "application/fhir+xml"
    from gateway.formats.fhir_xml import xml_to_json

    assert xml_to_json(xml.get_data())["id"] == patient["id"]
    assert clinic.call("get", f"/fhir/r4/Patient/{patient['id']}", Accept=FHIR_JSON).mimetype == FHIR_JSON


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("", {"Accept": "text/csv"}, 406),
        ("?_format=csv", {}, 406),
        ("?_format=application/json", {"Accept": "text/csv"}, 200),
        ("", {"Accept": "text/html, */*;q=0.1"}, 200),
    ],
)
def test_what_cannot_be_answered_in_json_or_xml_is_a_406(
    clinic: Clinic, query: str, headers: dict[str, str], status: int
) -> None:
    answer = clinic.call("get", "/fhir/r4/metadata" + query, **headers)
    assert answer.status_code == status
    assert answer.mimetype == FHIR_JSON


def test_pretty_json_is_indented(clinic: Clinic) -> None:
    assert b"\n  " in clinic.call("get", "/fhir/r4/metadata?_pretty=true").get_data()
    assert b"\n" not in clinic.call("get", "/fhir/r4/metadata").get_data()


def test_a_patch_in_another_format_is_a_415(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    answer = clinic.call("patch", f"/fhir/r4/Patient/{patient['id']}", b"birthDate=2010", "text/plain")
    assert (answer.status_code, answer.get_json()["issue"][0]["code"]) == (415, "not-supported")


def test_the_delivery_status_alias_moves_the_task_too(world: Runtime) -> None:
    from gateway.service.referrals.referrals import StatusReport, report_status
    from tests.referral_world import delivery

    referral = refer_lisa(world)
    with world.sessions.begin() as session:  # the worker pushed it to the agency's endpoint
        from gateway.storage import delivery_store

        row = delivery_store.get_delivery(session, referral.id, lock=True)
        assert row is not None
        row.status = "sent"
    report_status(world, StatusReport(delivery_id=referral.id, reporter=FOOD_BANK, status="accepted"))
    assert delivery(world, referral.id).status == "sent"
    food_bank = partner(world, FOOD_BANK)
    task = food_bank.call(
        "get", f"/fhir/r4/Task?identifier=https://success-plan-gateway.org/referrals|{referral.id}"
    )
    resource = task.get_json()["entry"][0]["resource"]
    assert (resource["status"], resource["meta"]["versionId"]) == ("accepted", "2")


# interaction -> (OpenAPI path under /fhir/r4, method) it is served at
INTERACTION_PATHS = {
    "create": ("/{resource_type}", "post"),
    "search-type": ("/{resource_type}", "get"),
    "read": ("/{resource_type}/{resource_id}", "get"),
    "update": ("/{resource_type}/{resource_id}", "put"),
    "patch": ("/{resource_type}/{resource_id}", "patch"),
    "vread": ("/{resource_type}/{resource_id}/_history/{version_id}", "get"),
    "transaction": ("", "post"),
    "batch": ("", "post"),
}


def test_the_capability_statement_and_the_openapi_document_agree(clinic: Clinic) -> None:
    from gateway.web.openapi import build_openapi

    paths = build_openapi()["paths"]
    rest = clinic.call("get", "/fhir/r4/metadata").get_json()["rest"][0]
    announced = {i["code"] for r in rest["resource"] for i in r["interaction"]} | {
        i["code"] for i in rest["interaction"]
    }
    for interaction in announced:
        path, method = INTERACTION_PATHS[interaction]
        assert method in paths["/fhir/r4" + path], interaction
    documented = {
        (p.removeprefix("/fhir/r4"), m)
        for p, item in paths.items()
        if p.startswith("/fhir/r4") and "AuditEvent" not in p and ".well-known" not in p
        for m in item
    }
    served = set(INTERACTION_PATHS.values()) | {
        ("/metadata", "get"),
        ("/$import", "post"),
        ("/{resource_type}/_search", "post"),
        ("/{resource_type}/{resource_id}", "delete"),  # documented as 405
    }
    assert documented == served
    assert set(INTERACTION_PATHS) - {"batch"} <= announced | {"transaction"}


def test_an_included_resource_the_reader_may_not_see_is_left_out(world: Runtime) -> None:
    """The district may read the clinic's screenings (consent) but not its Patient resource (no
    agreement sends the clinic's identity to the district): the include is absent, not counted."""
    clinic, district = partner(world, CLINIC), partner(world, DISTRICT)
    own = clinic.call("get", "/fhir/r4/Observation?_include=Observation:patient").get_json()
    assert {e["resource"]["resourceType"] for e in own["entry"]} == {"Observation", "Patient"}
    seen = district.call("get", "/fhir/r4/Observation?_include=Observation:patient").get_json()
    assert {e["resource"]["resourceType"] for e in seen["entry"]} == {"Observation"}
    assert seen["total"] == own["total"]
    patient = next(e["resource"]["id"] for e in own["entry"] if e["resource"]["resourceType"] == "Patient")
    assert district.call("get", f"/fhir/r4/Patient/{patient}").status_code == 404


def test_recorded_consents_are_served_and_a_revocation_is_a_new_version(world: Runtime) -> None:
    from gateway.service.policy.consents import revoke_consent as revoke

    clinic = partner(world, CLINIC)
    lisa = "https://grandbend.example.org/ns/studentUniqueId|604822"
    active = clinic.call("get", f"/fhir/r4/Consent?patient:identifier={lisa}&status=active").get_json()
    assert "consent-0001-riverside-to-gbisd" in [e["resource"]["id"] for e in active["entry"]]
    revoke(world, "consent-0001-riverside-to-gbisd", by=CLINIC)
    after = clinic.call("get", f"/fhir/r4/Consent?patient:identifier={lisa}&status=inactive").get_json()
    (revoked,) = [e["resource"] for e in after["entry"]]
    assert (revoked["id"], revoked["meta"]["versionId"]) == ("consent-0001-riverside-to-gbisd", "2")
    # the food bank is neither the grantor nor given consents by any agreement: none shown, none counted
    assert partner(world, FOOD_BANK).call("get", "/fhir/r4/Consent").get_json()["total"] == 0


def test_an_update_that_is_no_resource_is_stored_and_refused_with_its_reason(clinic: Clinic) -> None:
    patient = created(clinic, PATIENT)
    answer = clinic.call("put", f"/fhir/r4/Patient/{patient['id']}", b'{"resourceType": "Patient", "id": ')
    assert answer.status_code == 400
    issues = answer.get_json()["issue"]
    message_id = issues[-1]["diagnostics"].split()[1].rstrip(":")
    stored = clinic.client.get(f"/api/v1/messages/{message_id}", headers=clinic.headers)
    assert (stored.status_code, stored.get_json()["status"]) == (200, "rejected")
