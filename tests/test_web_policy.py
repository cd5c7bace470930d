"""The policy endpoints over HTTP: consents in and out as FHIR, each partner seeing only its own
consents and agreements, revocation taking effect on the next read, and explanations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gateway.service.administration.partners import create_secret
from gateway.service.runtime import Runtime
from gateway.web import create_app
from tests.helpers import DISTRICT_IDS, demo_file, sans_request_id

SAMPLES = Path(__file__).resolve().parent.parent / "consent_policies" / "samples"
CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
CLINIC_CONSENT, SCHOOL_CONSENT = "consent-0001-riverside-to-gbisd", "consent-0002-gbisd-to-northside"
LISA_REF = quote(f"{DISTRICT_IDS}|604822", safe="")
FHIR = "application/fhir+json"
Headers = dict[str, str]


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


@pytest.fixture
def auth(client: FlaskClient, rt: Runtime) -> dict[str, Headers]:
    credentials = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    found = {}
    for org, secret in credentials.items():
        token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
        found[org] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    return found


def clinic_consent(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (SAMPLES / "consents" / f"{CLINIC_CONSENT}.json").read_text("utf-8")
    )
    return {**document, **changes}


def post(
    client: FlaskClient, path: str, headers: Headers, body: Any, content_type: str = FHIR
) -> TestResponse:
    return client.post(path, data=json.dumps(body), content_type=content_type, headers=headers)


def send_lisa(client: FlaskClient, auth: dict[str, Headers]) -> None:
    for prefix, org, fmt, entity in (
        ("01", DISTRICT, "edfi-json", "students"),
        ("08", DISTRICT, "edfi-json", "studentContactAssociations"),  # links Lisa's mother, who signed
        ("05", CLINIC, "fhir-json", None),
    ):
        query = {"entity": entity} if entity else {}
        answer = client.post(
            f"/api/v1/exchanges/{fmt}",
            data=demo_file(prefix).read_bytes(),
            query_string=query,
            content_type="application/json",
            headers=auth[org],
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    client.post(
        "/api/v1/exchanges/fhir-json",
        data=demo_file("04").read_bytes(),
        content_type=FHIR,
        headers=auth[CLINIC],
    )


def coordinator_needs(client: FlaskClient, auth: dict[str, Headers]) -> list[Any]:
    query = {"actor": "ms-ortiz", "role": "coordinator", "purpose": "care-coordination"}
    answer = client.get(f"/api/v1/plans/{LISA_REF}", query_string=query, headers=auth[DISTRICT])
    assert answer.status_code == 200
    return list(answer.get_json()["plan"].get("needs", []))


# -- consents ------------------------------------------------------------------------------


def test_a_consent_goes_in_as_fhir_and_comes_out_as_fhir(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    document = clinic_consent(id="consent-web")
    created = post(client, "/api/v1/consents", auth[CLINIC], document)
    assert (created.status_code, created.get_json()["id"], created.get_json()["created"]) == (
        201,
        "consent-web",
        True,
    )
    again = post(client, "/api/v1/consents", auth[CLINIC], document)
    assert (again.status_code, again.get_json()["created"]) == (200, False)
    exported = client.get("/api/v1/consents/consent-web", headers=auth[DISTRICT])
    assert (exported.status_code, exported.mimetype) == (200, FHIR)
    assert exported.get_json() == document


def test_an_incomplete_consent_is_refused_with_every_element_named(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    document = clinic_consent(id="consent-web")
    del document["dateTime"], document["performer"]
    answer = post(client, "/api/v1/consents", auth[CLINIC], document)
    assert answer.status_code == 400
    assert [i["path"] for i in answer.get_json()["error"]["issues"]] == [
        "Consent.performer",
        "Consent.dateTime",
    ]


@pytest.mark.parametrize(
    ("org", "body", "content_type", "status"),
    [
        pytest.param(DISTRICT, clinic_consent(id="consent-web"), FHIR, 403, id="not the grantor"),
        pytest.param(CLINIC, clinic_consent(status="draft"), FHIR, 409, id="same id, other content"),
        pytest.param(CLINIC, clinic_consent(id="consent-web"), "text/plain", 415, id="not JSON"),
        pytest.param(CLINIC, [clinic_consent()], FHIR, 400, id="not one resource"),
    ],
)
def test_a_consent_that_cannot_be_stored(
    client: FlaskClient, auth: dict[str, Headers], org: str, body: Any, content_type: str, status: int
) -> None:
    assert post(client, "/api/v1/consents", auth[org], body, content_type).status_code == status


def sample_consents_of(org: str) -> list[str]:
    """The sample consents (all Lisa's) that ``org`` grants or receives, read from the files."""
    samples = [json.loads(path.read_text("utf-8")) for path in (SAMPLES / "consents").glob("*.json")]
    return sorted(doc["id"] for doc in samples if org in json.dumps([doc["organization"], doc["provision"]]))


@pytest.mark.parametrize("org", [CLINIC, DISTRICT, FOOD_BANK])
def test_each_partner_lists_only_its_own_consents(
    client: FlaskClient, auth: dict[str, Headers], org: str
) -> None:
    expected = sample_consents_of(org)
    assert expected  # each demo partner grants or receives a sample consent
    for query in ({}, {"student": f"{DISTRICT_IDS}|604822"}):
        answer = client.get("/api/v1/consents", query_string=query, headers=auth[org])
        assert [c["id"] for c in answer.get_json()["consents"]] == expected
    other = client.get("/api/v1/consents", query_string={"student": f"{DISTRICT_IDS}|1"}, headers=auth[org])
    assert other.get_json() == {"consents": []}


def test_someone_elses_consent_is_answered_as_not_existing(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    theirs = client.get(f"/api/v1/consents/{CLINIC_CONSENT}", headers=auth[FOOD_BANK])
    nobody = client.get("/api/v1/consents/consent-none", headers=auth[FOOD_BANK])
    assert theirs.status_code == nobody.status_code == 404
    assert sans_request_id(theirs.get_data(as_text=True)).replace(CLINIC_CONSENT, "x") == sans_request_id(
        nobody.get_data(as_text=True)
    ).replace("consent-none", "x")


def test_revocation_over_http_takes_effect_on_the_next_read(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    send_lisa(client, auth)
    assert coordinator_needs(client, auth)
    path = f"/api/v1/consents/{CLINIC_CONSENT}/revoke"
    assert client.post(path, headers=auth[FOOD_BANK]).status_code == 404
    unknown_requester = post(client, path, auth[CLINIC], {"requestedBy": "neighbour"}, "application/json")
    assert unknown_requester.status_code == 400
    assert coordinator_needs(client, auth)
    revoked = post(client, path, auth[CLINIC], {"requestedBy": "parent"}, "application/json")
    assert (revoked.status_code, revoked.get_json()["state"]) == (200, "revoked")
    assert coordinator_needs(client, auth) == []
    # Revoking again (the clock has not moved) changes nothing.
    again = post(client, path, auth[CLINIC], {"at": revoked.get_json()["revokedAt"]}, "application/json")
    assert again.get_json() == revoked.get_json()
    # The district, a recipient the consent names, may revoke too (for the family): already done.
    assert client.post(path, headers=auth[DISTRICT]).get_json() == revoked.get_json()
    exported = client.get(f"/api/v1/consents/{CLINIC_CONSENT}", headers=auth[DISTRICT]).get_json()
    assert (exported["status"], exported["provision"]["period"]["end"]) == (
        "inactive",
        revoked.get_json()["revokedAt"],
    )


def test_a_revocation_time_must_be_a_date_time(client: FlaskClient, auth: dict[str, Headers]) -> None:
    for at in ("yesterday", 5, "2026-11-01T00:00:00"):
        path = f"/api/v1/consents/{CLINIC_CONSENT}/revoke"
        answer = post(client, path, auth[CLINIC], {"at": at}, "application/json")
        assert (answer.status_code, answer.get_json()["error"]["issues"][0]["path"]) == (400, "at")


# -- agreements ----------------------------------------------------------------------------


@pytest.mark.parametrize("org", [CLINIC, DISTRICT, FOOD_BANK])
def test_each_partner_lists_only_its_agreements(
    client: FlaskClient, auth: dict[str, Headers], org: str
) -> None:
    documents = (yaml.safe_load(path.read_text("utf-8")) for path in (SAMPLES / "agreements").glob("*.yaml"))
    expected = sorted(doc["id"] for doc in documents if org in doc["parties"])
    answer = client.get("/api/v1/agreements", headers=auth[org]).get_json()
    assert [a["id"] for a in answer["agreements"]] == expected
    assert all(org in a["parties"] for a in answer["agreements"])


def test_a_widening_binds_once_each_party_signed_with_its_own_credentials(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    document = yaml.safe_load((SAMPLES / "agreements" / "gbisd-riverside-2026.yaml").read_text("utf-8"))
    document["retention_days"] = 2000
    refused = post(client, "/api/v1/agreements", auth[FOOD_BANK], document, "application/json")
    assert refused.status_code == 403
    proposed = post(client, "/api/v1/agreements", auth[CLINIC], document, "application/json")
    assert (proposed.status_code, proposed.get_json()["version"], proposed.get_json()["effect"]) == (
        202,
        1,
        "proposed",
    )
    one = "/api/v1/agreements/gbisd-riverside-2026"
    shown = client.get(one, headers=auth[DISTRICT]).get_json()
    proposal = shown["proposal"]
    assert (proposal["awaiting"], proposal["widens"]) == ([DISTRICT, CLINIC], ["retention_days"])
    assert client.get(one, headers=auth[FOOD_BANK]).status_code == 404
    signature = {"signedBy": "Dr. A. Chen, CMO", "digest": proposal["digest"]}
    # A party signs for itself only; the food bank is not a party at all.
    as_other = post(
        client, one + "/signatures", auth[CLINIC], {**signature, "for": DISTRICT}, "application/json"
    )
    assert as_other.status_code == 403
    outsider = post(client, one + "/signatures", auth[FOOD_BANK], signature, "application/json")
    assert outsider.status_code == 404
    first = post(client, one + "/signatures", auth[CLINIC], signature, "application/json")
    assert (first.status_code, first.get_json()["version"], first.get_json()["proposal"]["awaiting"]) == (
        201,
        1,
        [DISTRICT],
    )
    stale = post(
        client, one + "/signatures", auth[DISTRICT], {**signature, "digest": "sha256:00"}, "application/json"
    )
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (409, "conflict")
    last = post(client, one + "/signatures", auth[DISTRICT], signature, "application/json")
    assert (last.status_code, last.get_json()["version"], last.get_json()["effect"]) == (201, 2, "in-force")
    assert client.get(one, headers=auth[CLINIC]).get_json()["document"]["retention_days"] == 2000


@pytest.fixture
def administrator(client: FlaskClient, rt: Runtime) -> Headers:
    issued = create_secret(rt, DISTRICT, role="administrator")
    form = {
        "grant_type": "client_credentials",
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
    }
    token = client.post("/oauth/token", data=form).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_an_administrator_sees_every_agreement_and_records_paper_signatures(
    client: FlaskClient, auth: dict[str, Headers], administrator: Headers
) -> None:
    listed = client.get("/api/v1/agreements", headers=administrator).get_json()["agreements"]
    documents = (yaml.safe_load(path.read_text("utf-8")) for path in (SAMPLES / "agreements").glob("*.yaml"))
    assert sorted(a["id"] for a in listed) == sorted(doc["id"] for doc in documents)
    document = yaml.safe_load((SAMPLES / "agreements" / "gbisd-northside-2026.yaml").read_text("utf-8"))
    document["retention_days"] = 3000
    proposal = post(client, "/api/v1/agreements", auth[FOOD_BANK], document, "application/json").get_json()[
        "proposal"
    ]
    one = "/api/v1/agreements/gbisd-northside-2026/signatures"
    for party in proposal["awaiting"]:
        body = {"signedBy": f"Director, {party}", "digest": proposal["digest"], "for": party}
        answer = post(client, one, administrator, body, "application/json")
        assert answer.status_code == 201, answer.get_data(as_text=True)
    shown = client.get("/api/v1/agreements/gbisd-northside-2026", headers=auth[FOOD_BANK]).get_json()
    assert (shown["version"], {s["method"] for s in shown["signatures"]}) == (2, {"paper"})
    # The administrator must say for whom; a partner may not sign on paper for another.
    assert post(
        client, one, administrator, {"signedBy": "x", "digest": "d"}, "application/json"
    ).status_code in (
        400,
        409,
    )


def test_any_party_suspends_at_once(client: FlaskClient, auth: dict[str, Headers]) -> None:
    status = "/api/v1/agreements/gbisd-riverside-2026/status"
    suspended = post(
        client, status, auth[DISTRICT], {"status": "suspended", "reason": "audit"}, "application/json"
    )
    assert (suspended.status_code, suspended.get_json()["status"], suspended.get_json()["inForce"]) == (
        200,
        "suspended",
        False,
    )
    missing = post(client, status, auth[DISTRICT], {"status": "active"}, "application/json")
    assert [i["path"] for i in missing.get_json()["error"]["issues"]] == ["reason"]
    back = post(client, status, auth[CLINIC], {"status": "active", "reason": "resolved"}, "application/json")
    assert (back.status_code, back.get_json()["status"], back.get_json()["effect"]) == (
        202,
        "suspended",
        "proposed",
    )


# -- explain -------------------------------------------------------------------------------


def test_explain_decides_for_the_caller_by_default(client: FlaskClient, auth: dict[str, Headers]) -> None:
    send_lisa(client, auth)
    body = {
        "source": CLINIC,
        "categories": ["sdoh-screening"],
        "regimes": ["HIPAA"],
        "purpose": "care-coordination",
        "role": "coordinator",
        "student": f"{DISTRICT_IDS}|604822",
    }
    answer = post(client, "/api/v1/policy/explain", auth[DISTRICT], body, "application/json")
    assert answer.status_code == 200
    explained = answer.get_json()
    assert (explained["effect"], explained["inputs"]["recipient"]) == ("permit", DISTRICT)
    assert explained["basis"] == [f"consent:{CLINIC_CONSENT}"]
    unknown = post(
        client, "/api/v1/policy/explain", auth[DISTRICT], {**body, "purpose": "x"}, "application/json"
    )
    assert (unknown.status_code, unknown.get_json()["reasons"]) == (
        200,
        ["purpose 'x' is not in the vocabulary"],
    )


def test_explain_for_a_partner_tells_nothing_it_may_not_know(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    """The food bank asks about a known and an unknown student: no internal id, no birth date,
    no consent that does not name it, and apart from ids and digests the same answer."""
    send_lisa(client, auth)
    body = {
        "source": DISTRICT,
        "categories": ["referral"],
        "purpose": "referral-fulfillment",
        "role": "case-worker",
    }

    def ask(student: str) -> dict[str, Any]:
        answer = post(
            client,
            "/api/v1/policy/explain",
            auth[FOOD_BANK],
            {**body, "student": student},
            "application/json",
        )
        assert answer.status_code == 200
        return dict(answer.get_json())

    known, unknown = ask(f"{DISTRICT_IDS}|604822"), ask(f"{DISTRICT_IDS}|000000")
    for answer in (known, unknown):
        assert (answer["inputs"]["student"], answer["inputs"]["birthDateKnown"]) == (None, None)
        assert CLINIC_CONSENT not in json.dumps(answer)  # the clinic's consent names the district only
    assert "stu-" not in json.dumps(known)


@pytest.mark.parametrize(
    ("body", "status", "paths"),
    [
        pytest.param({"categories": ["identity"]}, 400, ["source"], id="no source"),
        pytest.param({"source": CLINIC, "categories": "identity"}, 400, ["categories"], id="not a list"),
        pytest.param(
            {"source": CLINIC, "categories": [], "pupose": "x"}, 400, ["pupose"], id="unknown field"
        ),
        pytest.param(
            {"source": CLINIC, "categories": [], "action": "delete"}, 400, ["action"], id="bad action"
        ),
        pytest.param({"source": CLINIC, "recipient": FOOD_BANK, "categories": []}, 403, [], id="not a party"),
    ],
)
def test_explain_refuses_bad_requests(
    client: FlaskClient, auth: dict[str, Headers], body: dict[str, Any], status: int, paths: list[str]
) -> None:
    answer = post(client, "/api/v1/policy/explain", auth[DISTRICT], body, "application/json")
    assert answer.status_code == status
    assert [i["path"] for i in answer.get_json()["error"]["issues"]] == paths


# -- every route wants a token -------------------------------------------------------------

ROUTES = [
    ("POST", "/api/v1/consents"),
    ("GET", "/api/v1/consents"),
    ("GET", f"/api/v1/consents/{CLINIC_CONSENT}"),
    ("POST", f"/api/v1/consents/{CLINIC_CONSENT}/revoke"),
    ("GET", "/api/v1/agreements"),
    ("POST", "/api/v1/agreements"),
    ("POST", "/api/v1/agreements/gbisd-riverside-2026/status"),
    ("GET", "/api/v1/agreements/gbisd-riverside-2026"),
    ("POST", "/api/v1/agreements/gbisd-riverside-2026/signatures"),
    ("POST", "/api/v1/policy/explain"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_policy_route_needs_a_bearer_token(client: FlaskClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer forged"}):
        answer = client.open(path, method=method, headers=headers, data="{}", content_type="application/json")
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "authentication_failed")
