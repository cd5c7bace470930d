"""The referral and delivery endpoints through the Flask test client; every answer is checked
against the schema the OpenAPI document gives for its status."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gateway.service.referrals.delivery_worker import deliver_due
from gateway.service.runtime import Runtime
from gateway.service.views.plans import not_visible
from gateway.web import create_app
from gateway.web.delivery_api import OPENAPI_PATHS
from gateway.web.openapi import build_openapi
from tests.agency_server import Agency
from tests.helpers import error_sans_request_id
from tests.referral_world import (
    CLINIC,
    DISTRICT,
    FOOD_BANK,
    STATUS_AGREEMENT,
    amend_agreement,
    let_district_follow_referrals,
)
from tests.test_web_openapi import schema_validator

REFERRAL = {
    "student": "https://grandbend.example.org/ns/studentUniqueId|604822",
    "recipient": FOOD_BANK,
    "role": "case-worker",
    "purpose": "referral-fulfillment",
    "actor": "ms-ortiz",
}
REFERRALS, DELIVERIES = "/api/v1/referrals", "/api/v1/deliveries"
STATUS = "/api/v1/deliveries/{delivery_id}/status"
JWKS = "/.well-known/jwks.json"
Headers = dict[str, str]


@pytest.fixture
def client(rt: Runtime, agency: Agency) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


@pytest.fixture
def auth(client: FlaskClient, rt: Runtime) -> dict[str, Headers]:
    credentials = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    found = {}
    for org, secret in credentials.items():
        token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
        found[org] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    return found


def checked(response: TestResponse, path: str, method: str, status: int) -> Any:
    """The body, after checking the status and that the body matches the documented schema."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    validator = schema_validator(build_openapi(), path, method, status)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors
    return body


# The answers the tests below check against the document, per operation.
CHECKED_ANSWERS = {
    (JWKS, "get"): {200},
    (REFERRALS, "post"): {202, 400, 401, 404},
    (DELIVERIES, "get"): {200, 400, 401},
    (STATUS, "post"): {200, 400, 401, 403, 404, 409},
}


def refer(client: FlaskClient, headers: Headers, **changes: Any) -> TestResponse:
    return client.post(REFERRALS, json={**REFERRAL, **changes}, headers=headers)


def post_status(client: FlaskClient, headers: Headers, delivery_id: str, **body: Any) -> TestResponse:
    return client.post(f"/api/v1/deliveries/{delivery_id}/status", json=body, headers=headers)


@pytest.fixture
def delivered(client: FlaskClient, auth: dict[str, Headers], rt: Runtime) -> str:
    queued = checked(refer(client, auth[DISTRICT]), REFERRALS, "post", 202)
    deliver_due(rt)
    return str(queued["id"])


# -- referrals ------------------------------------------------------------------------------


def test_a_referral_is_queued_once(client: FlaskClient, auth: dict[str, Headers]) -> None:
    first = checked(refer(client, auth[DISTRICT]), REFERRALS, "post", 202)
    assert (first["status"], first["source"], first["recipient"]) == ("queued", DISTRICT, FOOD_BANK)
    again = checked(refer(client, auth[DISTRICT]), REFERRALS, "post", 202)
    assert again["id"] == first["id"]


def test_a_referral_with_problems_names_each(client: FlaskClient, auth: dict[str, Headers]) -> None:
    body = {"student": "x", "role": 7, "purpose": "referral-fulfillment", "actor": "a", "extra": 1}
    error = checked(client.post(REFERRALS, json=body, headers=auth[DISTRICT]), REFERRALS, "post", 400)[
        "error"
    ]
    assert [i["path"] for i in error["issues"]] == ["recipient", "role", "extra"]
    not_json = client.post(REFERRALS, data="[]", content_type="application/json", headers=auth[DISTRICT])
    assert checked(not_json, REFERRALS, "post", 400)["error"]["issues"][0]["path"] == "body"


def test_a_denied_referral_looks_like_an_unknown_student(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    denied = checked(refer(client, auth[DISTRICT], purpose="care-coordination"), REFERRALS, "post", 404)
    unknown = checked(refer(client, auth[DISTRICT], student="stu-x"), REFERRALS, "post", 404)
    # one answer, naming nothing sent (each carries only its own request id)
    assert error_sans_request_id(denied) == error_sans_request_id(unknown) == not_visible().to_dict()


def test_referrals_need_a_token(client: FlaskClient) -> None:
    checked(refer(client, {}), REFERRALS, "post", 401)


# -- listing --------------------------------------------------------------------------------


def test_the_source_sees_its_referrals_and_the_recipient_what_reached_it(
    client: FlaskClient, auth: dict[str, Headers], rt: Runtime
) -> None:
    queued = checked(refer(client, auth[DISTRICT]), REFERRALS, "post", 202)
    listed = checked(client.get(DELIVERIES, headers=auth[DISTRICT]), DELIVERIES, "get", 200)
    assert [d["id"] for d in listed["deliveries"]] == [queued["id"]]
    assert (
        checked(client.get(DELIVERIES, headers=auth[FOOD_BANK]), DELIVERIES, "get", 200)["deliveries"] == []
    )
    deliver_due(rt)
    received = checked(client.get(DELIVERIES, headers=auth[FOOD_BANK]), DELIVERIES, "get", 200)
    assert [(d["id"], d["status"]) for d in received["deliveries"]] == [(queued["id"], "sent")]
    assert checked(client.get(DELIVERIES, headers=auth[CLINIC]), DELIVERIES, "get", 200)["deliveries"] == []


@pytest.mark.parametrize("query", [{"status": "lost"}, {"limit": "0"}, {"offset": "-1"}])
def test_listing_with_bad_parameters(
    client: FlaskClient, auth: dict[str, Headers], query: dict[str, str]
) -> None:
    checked(client.get(DELIVERIES, query_string=query, headers=auth[DISTRICT]), DELIVERIES, "get", 400)


def test_listing_needs_a_token(client: FlaskClient) -> None:
    checked(client.get(DELIVERIES), DELIVERIES, "get", 401)


# -- closing the loop -----------------------------------------------------------------------


def test_the_agency_reports_and_the_coordinator_sees_the_outcome(
    client: FlaskClient, auth: dict[str, Headers], delivered: str, rt: Runtime
) -> None:
    let_district_follow_referrals(rt)
    accepted = checked(
        post_status(client, auth[FOOD_BANK], delivered, status="accepted"), STATUS, "post", 200
    )
    assert (accepted["previousStatus"], accepted["referralStatus"]) == ("requested", "accepted")
    done = post_status(client, auth[FOOD_BANK], delivered, status="completed", outcome="enrolled")
    assert checked(done, STATUS, "post", 200)["changed"] is True
    plan = client.get(
        f"/api/v1/plans/{REFERRAL['student'].replace('|', '%7C')}",
        query_string={"actor": "ms-ortiz", "role": "coordinator", "purpose": "care-coordination"},
        headers=auth[DISTRICT],
    ).get_json()["plan"]
    assert [(s["referralStatus"], s["outcome"]) for s in plan["supports"]] == [("completed", "enrolled")]


def test_an_illegal_transition_is_409(client: FlaskClient, auth: dict[str, Headers], delivered: str) -> None:
    conflict = checked(
        post_status(client, auth[FOOD_BANK], delivered, status="completed"), STATUS, "post", 409
    )
    assert conflict["error"]["message"].endswith("it may move to accepted, rejected, cancelled")


def test_another_organization_cannot_report(
    client: FlaskClient, auth: dict[str, Headers], delivered: str
) -> None:
    checked(post_status(client, auth[DISTRICT], delivered, status="accepted"), STATUS, "post", 404)
    checked(post_status(client, auth[FOOD_BANK], "dlv-none", status="accepted"), STATUS, "post", 404)


def test_a_bad_report_is_400(client: FlaskClient, auth: dict[str, Headers], delivered: str) -> None:
    checked(post_status(client, auth[FOOD_BANK], delivered, status="done"), STATUS, "post", 400)
    checked(post_status(client, auth[FOOD_BANK], delivered), STATUS, "post", 400)


def test_reporting_needs_a_token(client: FlaskClient, delivered: str) -> None:
    checked(post_status(client, {}, delivered, status="accepted"), STATUS, "post", 401)


def test_reporting_needs_an_agreement_in_force(
    client: FlaskClient, auth: dict[str, Headers], delivered: str, rt: Runtime
) -> None:
    amend_agreement(rt, status="suspended")
    amend_agreement(rt, STATUS_AGREEMENT, status="suspended")
    checked(post_status(client, auth[FOOD_BANK], delivered, status="accepted"), STATUS, "post", 403)


# -- the key agencies verify deliveries with ------------------------------------------------


def test_the_delivery_bearer_verifies_with_the_published_key_set(
    client: FlaskClient, agency: Agency, delivered: str
) -> None:
    response = client.get(JWKS)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    key_set = checked(response, JWKS, "get", 200)
    [got] = agency.received
    token = got.headers["Authorization"].removeprefix("Bearer ")
    key = jwt.PyJWKSet.from_dict(key_set)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["EdDSA"],
        audience=FOOD_BANK,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["deliveryId"] == delivered
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token,
            key=key,
            algorithms=["EdDSA"],
            audience=CLINIC,
            options={"verify_exp": False, "verify_iat": False},
        )


def test_every_delivery_operation_is_checked_for_a_success_and_an_error() -> None:
    documented = {(path, method) for path, item in OPENAPI_PATHS.items() for method in item}
    assert set(CHECKED_ANSWERS) == documented
    for (path, method), statuses in CHECKED_ANSWERS.items():
        assert any(s < 400 for s in statuses)
        assert path == JWKS or any(s >= 400 for s in statuses)  # the key set has no client error
        assert {str(s) for s in statuses} <= set(OPENAPI_PATHS[path][method]["responses"])
