"""SMART at the token endpoint and in discovery: the scopes, purpose and role a token is granted
(and carries), RFC 6749 error bodies for every refusal, Bearer challenges on every 401 under
/api/v1 and /fhir/r4, and /.well-known/smart-configuration."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from gateway.core.smart_scopes import supported_scopes
from gateway.service.administration.partners import create_secret, verify_access_token
from gateway.service.fhir.smart import smart_security_extension
from gateway.service.runtime import Runtime
from gateway.web import create_app
from gateway.web.openapi import build_openapi
from gateway.web.partner_keys_api import OPENAPI_PATHS as KEY_PATHS

GRANT = {"grant_type": "client_credentials"}
PARTNER_CLINICAL = "system/Patient.cruds"
CONFIGURATION = "/.well-known/smart-configuration"
FHIR_CONFIGURATION = "/fhir/r4/.well-known/smart-configuration"
KEYS = "/api/v1/partners/{organization}/keys"

# Routes whose answers this module and tests/test_smart_keys.py check (see test_web_openapi).
CHECKED_ANSWERS = {
    (CONFIGURATION, "get"): {200},
    (FHIR_CONFIGURATION, "get"): {200},
    (KEYS, "post"): {201, 400, 401, 403, 404, 409},
    (KEYS, "get"): {200, 401, 403, 404},
    (KEYS + "/{kid}", "delete"): {200, 404},
}


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


def secret_of(rt: Runtime, org: str) -> dict[str, str]:
    credentials: dict[str, dict[str, str]] = json.loads(
        (rt.settings.home / "demo-credentials.json").read_text("utf-8")
    )
    return credentials[org]


def ask(client: FlaskClient, rt: Runtime, org: str, **form: str) -> Any:
    return client.post("/oauth/token", data={**GRANT, **secret_of(rt, org), **form})


# -- discovery ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CONFIGURATION, FHIR_CONFIGURATION])
def test_smart_configuration(client: FlaskClient, rt: Runtime, path: str) -> None:
    answer = client.get(path)  # public: no token
    assert answer.status_code == 200
    document = answer.get_json()
    assert document["token_endpoint"] == rt.settings.token_url
    assert document["issuer"] == rt.settings.issuer
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
    ]
    assert document["token_endpoint_auth_signing_alg_values_supported"][:2] == ["RS384", "ES384"]
    assert {"ES256", "EdDSA"} <= set(document["token_endpoint_auth_signing_alg_values_supported"])
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(document["capabilities"])
    assert document["scopes_supported"] == supported_scopes()
    assert all(s.startswith("system/") for s in document["scopes_supported"])


def test_the_capability_statement_security_names_smart_and_the_token_url(rt: Runtime) -> None:
    security = smart_security_extension(rt)
    assert security["service"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR",
        "display": "SMART-on-FHIR",
    }
    (uris,) = security["extension"]
    assert uris["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert uris["extension"] == [{"url": "token", "valueUri": rt.settings.token_url}]


# -- scopes at the token endpoint -----------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        (
            {"scope": "system/Observation.c system/Task.rs system/Task.u"},
            "system/Observation.c system/Task.rus",
        ),
        ({"scope": "system/Task.read system/Consent.write"}, "system/Task.rs system/Consent.cud"),
        ({"scope": "system/AuditEvent.cruds openid"}, "system/AuditEvent.rs"),
        ({"scope": "system/Patient.rs patient/Patient.rs"}, "system/Patient.rs"),
    ],
)
def test_a_partner_gets_what_it_asked_and_may_have(
    client: FlaskClient, rt: Runtime, asked: dict[str, str], granted: str
) -> None:
    answer = ask(client, rt, "riverside-health", **asked)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scope"] == granted
    principal = verify_access_token(rt, body["access_token"])
    assert principal.scopes == tuple(granted.split())
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["scope"] == granted


def test_nothing_asked_grants_the_whole_allowed_set(client: FlaskClient, rt: Runtime) -> None:
    body = ask(client, rt, "northside-food-bank").get_json()
    assert PARTNER_CLINICAL in body["scope"].split()
    assert "system/AuditEvent.rs" in body["scope"].split()


@pytest.mark.parametrize(
    ("role", "asked"),
    [
        ("partner", "system/Unknown.rs"),
        ("partner", "patient/Observation.rs launch"),
        ("partner", "system/Task.sr"),
        ("administrator", "system/Patient.rs"),
        ("compliance", "system/Observation.c"),
    ],
)
def test_nothing_grantable_is_invalid_scope(client: FlaskClient, rt: Runtime, role: str, asked: str) -> None:
    issued = create_secret(rt, "grand-bend-isd", role=role)
    form = {**GRANT, "client_id": issued.client_id, "client_secret": issued.client_secret, "scope": asked}
    answer = client.post("/oauth/token", data=form)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "invalid_scope"
    assert set(body) == {"error", "error_description"}
    assert asked.split()[0] in body["error_description"]
    assert answer.headers["Cache-Control"] == "no-store"


# -- purpose and role of the partner's reads ------------------------------------------------


@pytest.mark.parametrize(
    ("org", "form", "expected"),
    [
        # the registration's defaults, allowed by an agreement in force
        ("grand-bend-isd", {}, ("care-coordination", "coordinator")),
        ("riverside-health", {}, ("treatment", "clinician")),
        ("northside-food-bank", {}, ("referral-fulfillment", "case-worker")),
        # asked for, and allowed
        (
            "riverside-health",
            {"purpose": "care-coordination", "role": "care-manager"},
            ("care-coordination", "care-manager"),
        ),
        (
            "grand-bend-isd",
            {"purpose": "referral-fulfillment", "role": "case-worker"},
            ("referral-fulfillment", "case-worker"),
        ),
        # one asked, the other from the registration
        ("riverside-health", {"role": "nurse"}, ("treatment", "nurse")),
        # in the vocabulary, but no agreement in force allows it
        ("northside-food-bank", {"purpose": "treatment", "role": "clinician"}, "invalid_scope"),
        ("riverside-health", {"purpose": "research"}, "invalid_scope"),
        # not in the vocabulary
        ("riverside-health", {"purpose": "curiosity"}, "invalid_request"),
        ("riverside-health", {"role": "janitor"}, "invalid_request"),
    ],
)
def test_purpose_and_role_of_the_token(
    client: FlaskClient, rt: Runtime, org: str, form: dict[str, str], expected: tuple[str, str] | str
) -> None:
    answer = ask(client, rt, org, **form)
    body = answer.get_json()
    if isinstance(expected, str):
        assert (answer.status_code, body["error"]) == (400, expected)
        assert next(iter(form)) in body["error_description"]
        return
    assert answer.status_code == 200, body
    principal = verify_access_token(rt, body["access_token"])
    assert (principal.purpose, principal.read_role) == expected


def test_compliance_tokens_default_to_the_audit_purpose(client: FlaskClient, rt: Runtime) -> None:
    issued = create_secret(rt, "grand-bend-isd", role="compliance")
    form = {**GRANT, "client_id": issued.client_id, "client_secret": issued.client_secret}
    principal = verify_access_token(rt, client.post("/oauth/token", data=form).get_json()["access_token"])
    assert (principal.purpose, principal.read_role) == ("audit", "compliance-officer")
    assert principal.scopes == ("system/Consent.rs", "system/AuditEvent.rs", "system/Organization.rs")


# -- RFC 6749 5.2 error bodies, one per failure ---------------------------------------------


@pytest.mark.parametrize(
    ("form", "basic", "status", "error"),
    [
        ({}, False, 400, "invalid_request"),
        ({"grant_type": "authorization_code"}, False, 400, "unsupported_grant_type"),
        ({**GRANT, "client_id": "nobody.0000", "client_secret": "x"}, False, 401, "invalid_client"),
        (GRANT, True, 401, "invalid_client"),
        ({**GRANT, "client_assertion_type": "urn:x", "client_assertion": "x"}, False, 400, "invalid_request"),
        (
            {
                **GRANT,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "not-a-jwt",
            },
            False,
            401,
            "invalid_client",
        ),
        ({**GRANT, "scope": "system/Nothing.rs"}, "secret", 400, "invalid_scope"),
        ({**GRANT, "purpose": "curiosity"}, "secret", 400, "invalid_request"),
    ],
)
def test_token_errors_are_rfc_6749(
    client: FlaskClient, rt: Runtime, form: dict[str, str], basic: bool | str, status: int, error: str
) -> None:
    data = {**form, **secret_of(rt, "riverside-health")} if basic == "secret" else form
    headers = {"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="} if basic is True else {}
    answer = client.post("/oauth/token", data=data, headers=headers)
    assert answer.status_code == status
    body = answer.get_json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    assert set(body) == {"error", "error_description"}
    assert answer.headers["Cache-Control"] == "no-store"
    assert ("WWW-Authenticate" in answer.headers) == (status == 401)


def test_the_documented_token_answers_match(client: FlaskClient, rt: Runtime) -> None:
    responses = build_openapi()["paths"]["/oauth/token"]["post"]["responses"]
    assert {"200", "400", "401"} <= set(responses)
    token_schema = build_openapi()["components"]["schemas"]["Token"]
    assert set(ask(client, rt, "grand-bend-isd").get_json()) == set(token_schema["properties"])


# -- Bearer challenges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/messages", "/fhir/r4/Observation", "/api/v1/partners/riverside-health/keys"]
)
@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="spgw"'),
        ("Bearer forged", 'Bearer realm="spgw", error="invalid_token"'),
    ],
)
def test_every_401_carries_a_bearer_challenge(
    base_url: str, path: str, authorization: str | None, challenge: str
) -> None:
    headers = {"Connection": "close", **({"Authorization": authorization} if authorization else {})}
    answer = requests.get(f"{base_url}{path}", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == challenge


def test_a_json_insufficient_scope_answer_says_so(rt: Runtime) -> None:
    from gateway.errors import InsufficientScope
    from gateway.web.errors import error_response

    app = create_app({"TESTING": True}, runtime=rt)
    with app.test_request_context("/api/v1/messages"):
        answer = error_response(InsufficientScope("not granted"))
    assert answer.status_code == 403
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="spgw", error="insufficient_scope"'


def test_the_key_routes_are_documented() -> None:
    documented = {(p, m) for p, item in build_openapi()["paths"].items() for m in item}
    assert {(path, method) for path, item in KEY_PATHS.items() for method in item} <= documented
    assert {(CONFIGURATION, "get"), (FHIR_CONFIGURATION, "get")} <= documented


# -- real answers of the SMART and key routes against their documented schemas ---------------

RSA_JWK = {
    **jwt.algorithms.RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), as_dict=True
    ),
    "kid": "documented",
}
RIVERSIDE_KEYS = "/api/v1/partners/riverside-health/keys"
SCHEMA_CASES = [
    (CONFIGURATION, "get", "get", CONFIGURATION, None, None, 200),
    (FHIR_CONFIGURATION, "get", "get", FHIR_CONFIGURATION, None, None, 200),
    (KEYS, "post", "post", RIVERSIDE_KEYS, "administrator", {"jwk": {**RSA_JWK, "kid": "new"}}, 201),
    (KEYS, "post", "post", RIVERSIDE_KEYS, "administrator", {"jwk": {**RSA_JWK, "d": "x"}}, 400),
    (KEYS, "post", "post", RIVERSIDE_KEYS, None, {"jwk": RSA_JWK}, 401),
    (KEYS, "post", "post", RIVERSIDE_KEYS, "partner", {"jwk": RSA_JWK}, 403),
    (KEYS, "post", "post", "/api/v1/partners/nobody/keys", "administrator", {"jwk": RSA_JWK}, 404),
    (KEYS, "post", "post", RIVERSIDE_KEYS, "administrator", "same-client", 409),
    (KEYS, "get", "get", RIVERSIDE_KEYS, "administrator", None, 200),
    (KEYS, "get", "get", RIVERSIDE_KEYS, None, None, 401),
    (KEYS, "get", "get", RIVERSIDE_KEYS, "compliance", None, 403),
    (KEYS, "get", "get", "/api/v1/partners/nobody/keys", "administrator", None, 404),
    (KEYS + "/{kid}", "delete", "delete", RIVERSIDE_KEYS + "/documented", "administrator", None, 200),
    (KEYS + "/{kid}", "delete", "delete", RIVERSIDE_KEYS + "/unknown", "administrator", None, 404),
]


@pytest.mark.parametrize(
    ("path", "method", "verb", "url", "role", "body", "status"),
    [pytest.param(*case, id=f"{case[1]} {case[3]} {case[6]}") for case in SCHEMA_CASES],
)
def test_answers_match_the_documented_schema(
    client: FlaskClient,
    rt: Runtime,
    path: str,
    method: str,
    verb: str,
    url: str,
    role: str | None,
    body: Any,
    status: int,
) -> None:
    from gateway.service.fhir.partner_keys import add_keys
    from tests.test_web_openapi import schema_validator

    client_id = add_keys(rt, "riverside-health", RSA_JWK).keys[0].client_id
    if body == "same-client":
        body = {"jwk": RSA_JWK, "clientId": client_id}
    headers = {}
    if role is not None:
        issued = create_secret(rt, "grand-bend-isd", role=role)
        form = {**GRANT, "client_id": issued.client_id, "client_secret": issued.client_secret}
        headers = {
            "Authorization": f"Bearer {client.post('/oauth/token', data=form).get_json()['access_token']}"
        }
    answer = client.open(url, method=verb.upper(), json=body, headers=headers)
    assert answer.status_code == status, answer.get_json()
    validator = schema_validator(build_openapi(), path, method, status)
    assert [e.message for e in validator.iter_errors(answer.get_json())] == []
    assert {s for p, m, *_, s in SCHEMA_CASES if (p, m) == (path, method)} == CHECKED_ANSWERS[(path, method)]
