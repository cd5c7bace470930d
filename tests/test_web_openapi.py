"""The OpenAPI document stays true: it validates, it documents exactly the app's routes, and real
answers (successes and errors) validate against the schema it gives for their status."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.service.administration.partners import create_secret
from gateway.service.runtime import Runtime
from gateway.web import create_app
from gateway.web.openapi import build_openapi
from gateway.web.pages import PAGE_MODULES
from gateway.web.pages import STATIC as PAGES_STATIC

EXCHANGES = Path(__file__).resolve().parent.parent / "demo" / "exchanges"
LISA_REF = quote("https://grandbend.example.org/ns/studentUniqueId|604822", safe="")
COORDINATOR = {"actor": "ms-ortiz", "role": "coordinator", "purpose": "care-coordination"}
DOC_URI = "urn:spgw:openapi"
MAX_PAYLOAD = 4000  # small, so the 413 answer can be checked too
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def test_document_is_valid_openapi_3_1() -> None:
    document = build_openapi()
    assert document["openapi"].startswith("3.1")
    validate(document)


def flask_routes(app: Flask) -> set[tuple[str, str]]:
    """The API's routes: the pages for people (HTML, signed in by session) are not part of it."""
    pages = {module.bp.name for module in PAGE_MODULES} | {PAGES_STATIC.name}
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.split(".")[0] in pages:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(path, method.lower()) for method in rule.methods or () if method not in IGNORED_METHODS}
    return found


def documented_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, item in build_openapi()["paths"].items() for method in item}


def test_every_route_is_documented_and_nothing_else(rt: Runtime) -> None:
    assert flask_routes(create_app(runtime=rt)) == documented_routes()


def test_the_served_document_is_the_built_one(rt: Runtime) -> None:
    served = create_app(runtime=rt).test_client().get("/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == json.loads(json.dumps(build_openapi()))


# -- real answers against the documented schemas -----------------------------------------


@dataclass(frozen=True, kw_only=True)
class World:
    """A gateway with partners' tokens, Lisa's student record, and one held clinic message."""

    client: FlaskClient
    secrets: dict[str, dict[str, str]]
    headers: dict[str, dict[str, str]]
    held_message: str

    def auth(self, org: str | None = "grand-bend-isd") -> dict[str, str]:
        return self.headers[org] if org else {}


@pytest.fixture
def world(rt: Runtime) -> World:
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_payload_bytes=MAX_PAYLOAD))
    client = create_app({"TESTING": True}, runtime=small).test_client()
    secrets = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    headers = {}
    for org, secret in secrets.items():
        token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
        headers[org] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    # A compliance credential of the district, for the audit's compliance-only operations.
    issued = create_secret(rt, "grand-bend-isd", role="compliance")
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    headers["compliance"] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    client.post(
        "/api/v1/exchanges/edfi-json?entity=students",
        data=demo("students"),
        content_type="application/json",
        headers=headers["grand-bend-isd"],
    )
    # Lisa's mother, who signed the sample consents, is linked by the district's contact record.
    client.post(
        "/api/v1/exchanges/edfi-json?entity=studentContactAssociations",
        data=demo("studentContactAssociations"),
        content_type="application/json",
        headers=headers["grand-bend-isd"],
    )
    held = client.post(
        "/api/v1/exchanges/fhir-json",
        data=demo("screening"),
        content_type="application/fhir+json",
        headers=headers["riverside-health"],
    )
    return World(client=client, secrets=secrets, headers=headers, held_message=held.get_json()["messageId"])


def demo(kind: str) -> bytes:
    (path,) = EXCHANGES.glob(f"*.{kind}.json")
    return path.read_bytes()


Request = Callable[[World], dict[str, Any]]


def exchange(body: bytes, org: str | None = "grand-bend-isd", query: str = "?entity=students") -> Request:
    def build(w: World) -> dict[str, Any]:
        return {
            "path": f"/api/v1/exchanges/edfi-json{query}",
            "data": body,
            "headers": w.auth(org),
            "content_type": "application/json",
        }

    return build


def fhir(body: bytes, content_type: str = "application/fhir+json") -> Request:
    def build(w: World) -> dict[str, Any]:
        return {
            "path": "/api/v1/exchanges/fhir-json",
            "data": body,
            "content_type": content_type,
            "headers": w.auth("riverside-health"),
        }

    return build


def token(form: dict[str, str], secret_of: str | None = "grand-bend-isd") -> Request:
    def build(w: World) -> dict[str, Any]:
        secret = w.secrets[secret_of] if secret_of else {}
        return {"path": "/oauth/token", "data": {**form, **secret}}

    return build


def get(path: str, org: str | None = "grand-bend-isd", **query: Any) -> Request:
    def build(w: World) -> dict[str, Any]:
        return {"path": path, "query_string": query, "headers": w.auth(org)}

    return build


def held(suffix: str, org: str = "riverside-health") -> Request:
    def build(w: World) -> dict[str, Any]:
        return {"path": f"/api/v1/messages/{w.held_message}{suffix}", "headers": w.auth(org)}

    return build


# -- policy: consents, agreements, explain ------------------------------------------------

SAMPLES = EXCHANGES.parent.parent / "consent_policies" / "samples"
CONSENT = "consent-0001-riverside-to-gbisd"
CLINIC_CONSENT = json.loads((SAMPLES / "consents" / f"{CONSENT}.json").read_text("utf-8"))
DSA = yaml.safe_load((SAMPLES / "agreements" / "gbisd-riverside-2026.yaml").read_text("utf-8"))
EXPIRED_DSA = "gbisd-riverside-2024"
CONSENTS, AGREEMENTS = "/api/v1/consents", "/api/v1/agreements"
CONSENT_PATH, STATUS_PATH = CONSENTS + "/{consent_id}", AGREEMENTS + "/{agreement_id}/status"
OLD_DSA_STATUS = f"{AGREEMENTS}/{EXPIRED_DSA}/status"
ACTIVATE = {"status": "active", "reason": "renewed"}
EXPLAIN = "/api/v1/policy/explain"
FOOD_BANK = "northside-food-bank"
LISA_ID = "https://grandbend.example.org/ns/studentUniqueId|604822"
EXPLAIN_BODY = {
    "source": "riverside-health",
    "categories": ["sdoh-screening"],
    "purpose": "care-coordination",
}


def post(
    path: str,
    body: Any,
    org: str | None = "grand-bend-isd",
    content_type: str = "application/json",
    before: Callable[[World], Any] | None = None,
) -> Request:
    def build(w: World) -> dict[str, Any]:
        if before is not None:
            before(w)
        data = body if isinstance(body, bytes) else json.dumps(body)
        return {"path": path, "data": data, "content_type": content_type, "headers": w.auth(org)}

    return build


def terminated(w: World) -> None:
    answer = w.client.post(
        OLD_DSA_STATUS,
        json={"status": "terminated", "reason": "pilot over"},
        headers=w.auth("grand-bend-isd"),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


WIDER_DSA = {**DSA, "retention_days": 2000}
ONE_DSA = f"{AGREEMENTS}/{DSA['id']}"
SIGNATURES = AGREEMENTS + "/{agreement_id}/signatures"
EMERGENCY = "/api/v1/plans/emergency-reads"
THREAT = {"student": LISA_ID, "actor": "nurse-1", "role": "nurse", "threat": "anaphylaxis on a field trip"}


def proposed(w: World, document: dict[str, Any] = WIDER_DSA) -> str:
    """The district proposes a wider version; its digest, for the signatures."""
    answer = w.client.post(AGREEMENTS, json=document, headers=w.auth("grand-bend-isd"))
    assert answer.status_code == 202, answer.get_data(as_text=True)
    return str(answer.get_json()["proposal"]["digest"])


def signature(org: str | None, *, digest: str | None = None, **extra: Any) -> Request:
    def build(w: World) -> dict[str, Any]:
        body = {"signedBy": "Director", "digest": digest or proposed(w), **extra}
        return post(ONE_DSA + "/signatures", body, org)(w)

    return build


def signed_twice(w: World) -> dict[str, Any]:
    digest = proposed(w)
    body = {"signedBy": "Director", "digest": digest}
    assert (
        w.client.post(ONE_DSA + "/signatures", json=body, headers=w.auth("grand-bend-isd")).status_code == 201
    )
    return post(ONE_DSA + "/signatures", body)(w)


def emergency_clause(w: World) -> None:
    digest = proposed(w, {**DSA, "purposes": [*DSA["purposes"], "emergency"]})
    for org in ("grand-bend-isd", "riverside-health"):
        body = {"signedBy": "Director", "digest": digest}
        assert w.client.post(ONE_DSA + "/signatures", json=body, headers=w.auth(org)).status_code == 201


POLICY_CASES: list[tuple[str, str, Request, int]] = [
    # consents
    (CONSENTS, "post", post(CONSENTS, CLINIC_CONSENT, "riverside-health", "application/fhir+json"), 200),
    (CONSENTS, "post", post(CONSENTS, {**CLINIC_CONSENT, "id": "c-new"}, "riverside-health"), 201),
    (
        CONSENTS,
        "post",
        post(CONSENTS, {**CLINIC_CONSENT, "id": "c-bad", "dateTime": None}, "riverside-health"),
        400,
    ),
    (CONSENTS, "post", post(CONSENTS, CLINIC_CONSENT, None), 401),
    (CONSENTS, "post", post(CONSENTS, CLINIC_CONSENT), 403),
    (CONSENTS, "post", post(CONSENTS, {**CLINIC_CONSENT, "status": "draft"}, "riverside-health"), 409),
    (CONSENTS, "post", post(CONSENTS, b"Consent", "riverside-health", "text/plain"), 415),
    (CONSENTS, "get", get(CONSENTS, student=LISA_REF), 200),
    (CONSENTS, "get", get(CONSENTS, None), 401),
    (CONSENT_PATH, "get", get(f"{CONSENTS}/{CONSENT}", "riverside-health"), 200),
    (CONSENT_PATH, "get", get(f"{CONSENTS}/{CONSENT}", None), 401),
    (CONSENT_PATH, "get", get(f"{CONSENTS}/{CONSENT}", "northside-food-bank"), 404),
    (CONSENT_PATH + "/revoke", "post", post(f"{CONSENTS}/{CONSENT}/revoke", {}, "riverside-health"), 200),
    (
        CONSENT_PATH + "/revoke",
        "post",
        post(f"{CONSENTS}/{CONSENT}/revoke", {"at": "2999-01-01T00:00:00Z"}, "riverside-health"),
        400,
    ),
    (CONSENT_PATH + "/revoke", "post", post(f"{CONSENTS}/{CONSENT}/revoke", {}, None), 401),
    (CONSENT_PATH + "/revoke", "post", post(f"{CONSENTS}/{CONSENT}/revoke", {"requestedBy": "uncle"}), 400),
    (CONSENT_PATH + "/revoke", "post", post(f"{CONSENTS}/{CONSENT}/revoke", {}, "northside-food-bank"), 404),
    # agreements
    (AGREEMENTS, "get", get(AGREEMENTS), 200),
    (AGREEMENTS, "get", get(AGREEMENTS, None), 401),
    (AGREEMENTS, "post", post(AGREEMENTS, DSA), 200),
    (AGREEMENTS, "post", post(AGREEMENTS, WIDER_DSA), 202),
    (AGREEMENTS, "post", post(AGREEMENTS, {"id": "x"}), 400),
    (AGREEMENTS, "post", post(AGREEMENTS, DSA, None), 401),
    (AGREEMENTS, "post", post(AGREEMENTS, DSA, "northside-food-bank"), 403),
    (AGREEMENTS, "post", post(AGREEMENTS, {**DSA, "id": EXPIRED_DSA}, before=terminated), 409),
    (AGREEMENTS, "post", post(AGREEMENTS, b"id: x", content_type="application/yaml"), 415),
    (
        STATUS_PATH,
        "post",
        post(OLD_DSA_STATUS, {"status": "suspended", "reason": "r"}),
        200,
    ),
    (STATUS_PATH, "post", post(OLD_DSA_STATUS, {"status": "gone", "reason": ""}), 400),
    (STATUS_PATH, "post", post(OLD_DSA_STATUS, {}, None), 401),
    (STATUS_PATH, "post", post(OLD_DSA_STATUS, ACTIVATE, "northside-food-bank"), 404),
    (STATUS_PATH, "post", post(f"{AGREEMENTS}/nope/status", ACTIVATE), 404),
    (
        STATUS_PATH,
        "post",
        post(
            OLD_DSA_STATUS,
            ACTIVATE,
            before=lambda w: w.client.post(
                OLD_DSA_STATUS, json={"status": "suspended", "reason": "r"}, headers=w.auth()
            ),
        ),
        202,
    ),
    (
        STATUS_PATH,
        "post",
        post(OLD_DSA_STATUS, ACTIVATE, before=terminated),
        409,
    ),
    (STATUS_PATH, "post", post(OLD_DSA_STATUS, b"x", content_type="text/plain"), 415),
    (AGREEMENTS + "/{agreement_id}", "get", get(ONE_DSA), 200),
    (AGREEMENTS + "/{agreement_id}", "get", get(ONE_DSA, None), 401),
    (AGREEMENTS + "/{agreement_id}", "get", get(ONE_DSA, "northside-food-bank"), 404),
    (SIGNATURES, "post", signature("grand-bend-isd"), 201),
    (SIGNATURES, "post", signed_twice, 200),
    (SIGNATURES, "post", signature("grand-bend-isd", digest="sha256:0", version=0), 400),
    (SIGNATURES, "post", signature(None, digest="sha256:0"), 401),
    (SIGNATURES, "post", signature("grand-bend-isd", **{"for": "riverside-health"}), 403),
    (SIGNATURES, "post", signature("northside-food-bank", digest="sha256:0"), 404),
    (SIGNATURES, "post", signature("grand-bend-isd", digest="sha256:0"), 409),
    (SIGNATURES, "post", post(ONE_DSA + "/signatures", b"x", content_type="text/plain"), 415),
    # emergency reads (FERPA 99.36)
    (EMERGENCY, "post", post(EMERGENCY, THREAT, before=emergency_clause), 200),
    (EMERGENCY, "post", post(EMERGENCY, {**THREAT, "threat": 7}), 400),
    (EMERGENCY, "post", post(EMERGENCY, THREAT, None), 401),
    (EMERGENCY, "post", post(EMERGENCY, {**THREAT, "student": "https://example.org/ids|0"}), 404),
    (EMERGENCY, "post", post(EMERGENCY, b"x", content_type="text/plain"), 415),
    # explain
    (EXPLAIN, "post", post(EXPLAIN, {**EXPLAIN_BODY, "role": "coordinator", "student": LISA_ID}), 200),
    (EXPLAIN, "post", post(EXPLAIN, {"categories": "identity"}), 400),
    (EXPLAIN, "post", post(EXPLAIN, EXPLAIN_BODY, None), 401),
    (EXPLAIN, "post", post(EXPLAIN, EXPLAIN_BODY, "northside-food-bank"), 200),
    (
        EXPLAIN,
        "post",
        post(EXPLAIN, {**EXPLAIN_BODY, "recipient": "grand-bend-isd"}, "northside-food-bank"),
        403,
    ),
    (EXPLAIN, "post", post(EXPLAIN, b"{}", content_type="text/plain"), 415),
]


PLAN = f"/api/v1/plans/{LISA_REF}"
EXCHANGE = "/api/v1/exchanges/{format_name}"
MESSAGE = "/api/v1/messages/{message_id}"
GRANT = {"grant_type": "client_credentials"}

# (documented path, method, request, expected status)
CASES: list[tuple[str, str, Request, int]] = [
    # public
    ("/health", "get", get("/health", None), 200),
    ("/openapi.json", "get", get("/openapi.json", None), 200),
    ("/oauth/token", "post", token(GRANT), 200),
    ("/oauth/token", "post", token({"grant_type": "password"}), 400),
    ("/oauth/token", "post", token(GRANT, secret_of=None), 401),
    # exchanges
    (EXCHANGE, "post", exchange(demo("students")), 200),
    (EXCHANGE, "post", fhir(demo("screening")), 202),
    (EXCHANGE, "post", exchange(b"[1, 2"), 400),
    (EXCHANGE, "post", exchange(demo("students"), org=None), 401),
    (EXCHANGE, "post", exchange(b"[" + b" " * MAX_PAYLOAD + b"]"), 413),
    (EXCHANGE, "post", fhir(b"<Patient/>", "application/xml"), 415),
    (EXCHANGE, "post", exchange(b"[{}]"), 422),
    # plans
    ("/api/v1/plans/{student}", "get", get(PLAN, **COORDINATOR), 200),
    ("/api/v1/plans/{student}", "get", get(PLAN, actor="a"), 400),
    ("/api/v1/plans/{student}", "get", get(PLAN, None, **COORDINATOR), 401),
    (
        "/api/v1/plans/{student}",
        "get",
        get(PLAN, "northside-food-bank", **{**COORDINATOR, "purpose": "research"}),
        404,
    ),
    ("/api/v1/plans/{student}", "get", get(PLAN, **{**COORDINATOR, "purpose": "x"}), 400),
    # messages
    ("/api/v1/messages", "get", get("/api/v1/messages"), 200),
    ("/api/v1/messages", "get", get("/api/v1/messages", limit="none"), 400),
    ("/api/v1/messages", "get", get("/api/v1/messages", None), 401),
    (MESSAGE, "get", held(""), 200),
    (MESSAGE, "get", held("", org="grand-bend-isd"), 404),
    (MESSAGE + "/replay", "post", held("/replay"), 202),
    (MESSAGE + "/replay", "post", held("/replay", org="grand-bend-isd"), 404),
    # audit
    ("/api/v1/audit/verify", "get", get("/api/v1/audit/verify", "compliance"), 200),
    ("/api/v1/audit/verify", "get", get("/api/v1/audit/verify", None), 401),
    ("/api/v1/audit/verify", "get", get("/api/v1/audit/verify"), 403),
    ("/api/v1/audit/checkpoint", "get", get("/api/v1/audit/checkpoint"), 200),
    ("/api/v1/audit/checkpoint", "get", get("/api/v1/audit/checkpoint", None), 401),
    # FHIR AuditEvent export
    ("/fhir/r4/AuditEvent", "get", get("/fhir/r4/AuditEvent", "compliance"), 200),
    ("/fhir/r4/AuditEvent", "get", get("/fhir/r4/AuditEvent", date="x2026"), 400),
    ("/fhir/r4/AuditEvent", "get", get("/fhir/r4/AuditEvent", None), 401),
    ("/fhir/r4/AuditEvent/{resource_id}", "get", get("/fhir/r4/AuditEvent/spgw-audit-1", "compliance"), 200),
    ("/fhir/r4/AuditEvent/{resource_id}", "get", get("/fhir/r4/AuditEvent/spgw-audit-1"), 404),
    ("/fhir/r4/AuditEvent/{resource_id}", "get", get("/fhir/r4/AuditEvent/x", None), 401),
    *POLICY_CASES,
]


def schema_validator(
    document: dict[str, Any], path: str, method: str, status: int, media: str = "application/json"
) -> Draft202012Validator:
    """A validator for the documented JSON body of one answer; its ``$ref`` s resolve in the document."""
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", str(status), "content", media, "schema")
    )
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{quote(pointer)}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


@pytest.mark.parametrize(
    ("path", "method", "request_for", "status"),
    [pytest.param(*case, id=f"{case[1]} {case[0]} {case[3]}") for case in CASES],
)
def test_answers_match_the_documented_schema(
    world: World, path: str, method: str, request_for: Request, status: int
) -> None:
    response = world.client.open(method=method.upper(), **request_for(world))
    assert response.status_code == status, response.get_data(as_text=True)
    validator = schema_validator(build_openapi(), path, method, status, response.mimetype)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.get_json())]
    assert not errors


def test_every_operation_is_checked_for_a_success_and_an_error() -> None:
    checked: dict[tuple[str, str], set[bool]] = {}
    for path, method, _, status in CASES:
        checked.setdefault((path, method), set()).add(status < 400)
    # The delivery and FHIR endpoints check their answers against the schemas in their own test module
    # (imported here, not at the top: that module imports this one).
    from tests.test_accounting_http import CHECKED_ANSWERS as ACCOUNTING_CHECKED_ANSWERS
    from tests.test_directory_match_http import CHECKED_ANSWERS as DIRECTORY_CHECKED_ANSWERS
    from tests.test_fhir_api import CHECKED_ANSWERS as FHIR_CHECKED_ANSWERS
    from tests.test_health_ready import CHECKED_ANSWERS as OPS_CHECKED_ANSWERS
    from tests.test_reports_flows import CHECKED_ANSWERS as REPORT_CHECKED_ANSWERS
    from tests.test_smart_api import CHECKED_ANSWERS as SMART_CHECKED_ANSWERS
    from tests.test_web_delivery import CHECKED_ANSWERS as DELIVERY_CHECKED_ANSWERS

    for route, statuses in (
        *DELIVERY_CHECKED_ANSWERS.items(),
        *FHIR_CHECKED_ANSWERS.items(),
        *REPORT_CHECKED_ANSWERS.items(),
        *ACCOUNTING_CHECKED_ANSWERS.items(),
        *SMART_CHECKED_ANSWERS.items(),
        *OPS_CHECKED_ANSWERS.items(),
        *DIRECTORY_CHECKED_ANSWERS.items(),
    ):
        checked.setdefault(route, set()).update(status < 400 for status in statuses)
    assert set(checked) == documented_routes()
    unchecked = {route for route, kinds in checked.items() if kinds != {True, False}}
    # Public documents have no client error to check.
    assert unchecked <= {
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/.well-known/smart-configuration", "get"),
        ("/fhir/r4/.well-known/smart-configuration", "get"),
        # Documented as not supported (405 only): there is no success to check.
        ("/fhir/r4/{resource_type}/{resource_id}", "delete"),
    }


def test_a_wrong_body_fails_the_check() -> None:
    validator = schema_validator(build_openapi(), "/api/v1/audit/verify", "get", 200)
    assert not validator.is_valid({"ok": True})
    assert not validator.is_valid({"error": {"code": "not_found", "message": "x", "issues": []}})
