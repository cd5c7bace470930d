"""HTTP endpoints for referrals and their delivery (registered by the app factory; documented in
OPENAPI_PATHS).

A partner refers a student to an agency (``POST /api/v1/referrals``, as the source), lists the
deliveries it sent or received, and an agency reports what became of a referral it received
(``POST /api/v1/deliveries/<id>/status``). ``/.well-known/jwks.json`` publishes the key that
signs the bearer token each delivery carries, so agencies can verify who is calling.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.errors import InputInvalid, Issue
from gateway.service.referrals.deliveries import STATUSES, list_deliveries, refer
from gateway.service.referrals.delivery_worker import token_jwks
from gateway.service.referrals.referrals import REPORTABLE, StatusReport, report_status
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.params import paging
from gateway.web.schema_parts import COUNT, TEXT, Schema, closed_object, error_body, json_body, ref

REFERRAL_FIELDS = ("student", "recipient", "role", "purpose", "actor")

bp = Blueprint("delivery_api", __name__)
v1 = Blueprint("v1", __name__, url_prefix="/api/v1")
v1.before_request(require_principal)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(token_jwks(current_runtime()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@v1.post("/referrals")
def post_referral() -> tuple[Response, int]:
    body = _object_body(required=REFERRAL_FIELDS, optional=("reasonCode",))
    summary = refer(
        current_runtime(),
        student_ref=body["student"],
        source_org=current_principal().organization_id,
        recipient_org=body["recipient"],
        actor=body["actor"],
        role=body["role"],
        purpose=body["purpose"],
        note_code=body.get("reasonCode"),
    )
    return jsonify(summary.to_dict()), 202


@v1.get("/deliveries")
def get_deliveries() -> Response:
    limit, offset = paging()
    rows = list_deliveries(
        current_runtime(),
        organization=current_principal().organization_id,
        status=request.args.get("status") or None,
        limit=limit,
        offset=offset,
    )
    return jsonify({"deliveries": [r.to_dict() for r in rows], "limit": limit, "offset": offset})


@v1.post("/deliveries/<delivery_id>/status")
def post_delivery_status(delivery_id: str) -> Response:
    body = _object_body(required=("status",), optional=("outcome",))
    report = StatusReport(
        delivery_id=delivery_id,
        reporter=current_principal().organization_id,
        status=body["status"],
        outcome=body.get("outcome"),
    )
    return jsonify(report_status(current_runtime(), report).to_dict())


bp.register_blueprint(v1)


def _object_body(required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    """A JSON object of string fields; every problem is reported at once, by field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputInvalid(
            "the body must be a JSON object", [Issue(path="body", message="send application/json")]
        )
    issues = [
        Issue(path=name, message="required: a non-empty string") for name in required if not body.get(name)
    ]
    issues += [
        Issue(path=name, message="must be a string")
        for name in (*required, *optional)
        if name in body and body[name] is not None and not isinstance(body[name], str)
    ]
    issues += [
        Issue(path=name, message="not a field of this request")
        for name in body
        if name not in (*required, *optional)
    ]
    if issues:
        raise InputInvalid("the request body is not valid", issues)
    return {k: v for k, v in body.items() if v is not None}


# -- the OpenAPI description (merged by gateway.web.openapi.build_openapi) ---------------------

TIME: Schema = {"type": "string", "format": "date-time"}


UNAUTHORIZED = error_body("No valid bearer token (missing, expired, forged or revoked).")


def _body(name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


OPENAPI_SCHEMAS: dict[str, Any] = {
    "ReferralRequest": closed_object(
        {
            "student": {"type": "string", "description": "A canonical id (stu-...) or SYSTEM|VALUE."},
            "recipient": {"type": "string", "description": "The agency's organization id."},
            "role": {"type": "string", "description": "The recipient's role (e.g. case-worker)."},
            "purpose": {"type": "string", "description": "Why (e.g. referral-fulfillment)."},
            "actor": {"type": "string", "description": "Who refers, within the calling organization."},
            "reasonCode": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
        },
        optional=("reasonCode",),
    ),
    "Delivery": closed_object(
        {
            "id": TEXT,
            "kind": {"enum": ["referral"]},
            "studentId": TEXT,
            "source": TEXT,
            "recipient": TEXT,
            "purpose": TEXT,
            "role": TEXT,
            "status": {"enum": list(STATUSES)},
            "reason": {
                "type": ["string", "null"],
                "description": "Why it was cancelled, failed or is retried.",
            },
            "attempts": COUNT,
            "responseStatus": {"type": ["integer", "null"], "description": "The agency's last HTTP status."},
            "nextAttemptAt": {"type": ["string", "null"], "format": "date-time"},
            "categories": {"type": "array", "items": TEXT},
            "consentIds": {"type": "array", "items": TEXT},
            "payloadDigest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            "createdAt": TIME,
            "updatedAt": TIME,
        }
    ),
    "DeliveryList": closed_object(
        {
            "deliveries": {"type": "array", "items": ref("Delivery")},
            "limit": {"type": "integer", "minimum": 1},
            "offset": COUNT,
        }
    ),
    "ReferralStatusReport": closed_object(
        {
            "status": {"enum": list(REPORTABLE)},
            "outcome": {"type": "string", "minLength": 1, "maxLength": 500},
        },
        optional=("outcome",),
    ),
    "ReferralStatus": closed_object(
        {
            "deliveryId": TEXT,
            "referralStatus": {"enum": list(REPORTABLE)},
            "previousStatus": TEXT,
            "elementId": TEXT,
            "planVersion": COUNT,
            "changed": {"type": "boolean"},
        }
    ),
    "JsonWebKeySet": closed_object(
        {
            "keys": {
                "type": "array",
                "items": closed_object(
                    {
                        "kty": {"const": "OKP"},
                        "crv": {"const": "Ed25519"},
                        "x": TEXT,
                        "kid": TEXT,
                        "alg": {"const": "EdDSA"},
                        "use": {"const": "sig"},
                    }
                ),
            }
        }
    ),
}

OPENAPI_PATHS: dict[str, Any] = {
    "/.well-known/jwks.json": {
        "get": {
            "operationId": "getJwks",
            "summary": "The public key that signs the bearer token on every delivery (JWK set, EdDSA).",
            "description": "Each delivery POST carries Authorization: Bearer <JWT> with iss = the gateway, "
            "aud = the recipient organization id, a 60-second exp, a jti, deliveryId and bodyDigest "
            "(sha256 of the body), and Idempotency-Key: <delivery id>.",
            "security": [],
            "responses": {"200": json_body(ref("JsonWebKeySet"), "The key set.")},
        }
    },
    "/api/v1/referrals": {
        "post": {
            "operationId": "postReferral",
            "summary": "Refer a student to an agency, as the calling (source) organization.",
            "description": "Decided per plan element for the recipient, role and purpose; what may go is "
            "queued for delivery and decided again when sent. The same referral while one is queued "
            "answers with that one.",
            "requestBody": _body("ReferralRequest"),
            "responses": {
                "202": json_body(ref("Delivery"), "Queued (or already queued): the delivery."),
                "400": error_body(
                    "A field is missing or malformed, or the role or purpose is not in the vocabulary "
                    "(each named as an issue)."
                ),
                "401": UNAUTHORIZED,
                "404": error_body(
                    "No plan, or nothing may go to this recipient: the same answer either way."
                ),
            },
        }
    },
    "/api/v1/deliveries": {
        "get": {
            "operationId": "listDeliveries",
            "summary": "Deliveries the caller sent (any status) or received (sent ones), oldest first.",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            ],
            "responses": {
                "200": json_body(ref("DeliveryList"), "The deliveries (never their payloads)."),
                "400": error_body("An unknown status or a bad limit/offset."),
                "401": UNAUTHORIZED,
            },
        }
    },
    "/api/v1/deliveries/{delivery_id}/status": {
        "post": {
            "operationId": "postReferralStatus",
            "summary": "As the agency that received it, report what became of a referral.",
            "description": "Moves requested -> accepted -> in-progress -> completed (accepted -> completed "
            "too); rejected or cancelled from any open status. The status shows in the student's plan "
            "as a supports element.",
            "parameters": [
                {
                    "name": "delivery_id",
                    "in": "path",
                    "required": True,
                    "description": "The delivery id (the Idempotency-Key of the delivery).",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": _body("ReferralStatusReport"),
            "responses": {
                "200": json_body(ref("ReferralStatus"), "Recorded (or unchanged, when repeated)."),
                "400": error_body("An unknown status, or a bad outcome."),
                "401": UNAUTHORIZED,
                "403": error_body("No agreement in force lets the caller send referral status."),
                "404": error_body("No delivered referral with this id for the caller."),
                "409": error_body("The referral cannot move to this status; the allowed ones are named."),
                "422": error_body("The plan with this status would not validate."),
            },
        }
    },
}
