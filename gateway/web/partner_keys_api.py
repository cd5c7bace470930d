"""``/api/v1/partners/{org}/keys``: the administrator registers, lists and removes the public
keys partners sign their token requests with (``private_key_jwt``). Administrator credentials
only; every add and removal is audited (service.partner_keys).

``POST`` takes one of ``jwk`` (a public JWK), ``jwks`` (a JWKS document) or ``jwksUrl`` (the https
URL the partner publishes its JWKS at), with an optional ``clientId`` (add to that key set; left
out, a new client id is made) and ``role``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.errors import AccessDenied, InputInvalid, Issue
from gateway.service.administration.partners import PARTNER, ROLES
from gateway.service.fhir.partner_keys import add_jwks_url, add_keys, list_keys, remove_key
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.schema_parts import COUNT, TEXT, Schema, closed_object, error_body, json_body, ref

SOURCES = ("jwk", "jwks", "jwksUrl")
OPTIONAL = ("clientId", "role")

bp = Blueprint("partner_keys_api", __name__, url_prefix="/api/v1/partners")
bp.before_request(require_principal)


@bp.before_request
def _administrators_only() -> None:
    if not current_principal().is_administrator:
        raise AccessDenied(
            "access denied", [Issue(path="role", message="an administrator credential is needed")]
        )


@bp.post("/<organization>/keys")
def post_keys(organization: str) -> tuple[Response, int]:
    body = _body()
    options = {
        "client_id": body.get("clientId"),
        "role": body.get("role", PARTNER),
        "actor": current_principal().client_id,
    }
    rt = current_runtime()
    if "jwksUrl" in body:
        listing = add_jwks_url(rt, organization, body["jwksUrl"], **options)
    else:
        listing = add_keys(rt, organization, body.get("jwk", body.get("jwks")), **options)
    return jsonify(listing.to_dict()), 201


@bp.get("/<organization>/keys")
def get_keys(organization: str) -> Response:
    return jsonify(list_keys(current_runtime(), organization).to_dict())


@bp.delete("/<organization>/keys/<kid>")
def delete_key(organization: str, kid: str) -> Response:
    removed = remove_key(
        current_runtime(), kid, organization_id=organization, actor=current_principal().client_id
    )
    return jsonify(removed.to_dict())


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputInvalid(
            "the body must be a JSON object", [Issue(path="body", message="send application/json")]
        )
    given = [name for name in SOURCES if name in body]
    issues = [
        Issue(path=name, message="not a field of this request")
        for name in body
        if name not in (*SOURCES, *OPTIONAL)
    ]
    if len(given) != 1:
        issues.append(Issue(path="body", message="give exactly one of jwk, jwks or jwksUrl"))
    issues += [
        Issue(path=name, message="must be a string")
        for name in ("jwksUrl", *OPTIONAL)
        if name in body and not isinstance(body[name], str)
    ]
    if issues:
        raise InputInvalid("the request body is not valid", issues)
    return body


# -- the OpenAPI description (merged by gateway.web.openapi.build_openapi) ---------------------

_ORG: Schema = {
    "name": "organization",
    "in": "path",
    "required": True,
    "description": "The partner organization's id.",
    "schema": TEXT,
}
_KID: Schema = {**_ORG, "name": "kid", "description": "The key's kid."}
_UNAUTHORIZED = error_body("No valid bearer token (missing, expired, forged or revoked).")
_FORBIDDEN = error_body("The credential is not an administrator credential.")
_NULLABLE_TEXT: Schema = {"type": ["string", "null"]}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/partners/{organization}/keys": {
        "post": {
            "operationId": "addPartnerKeys",
            "summary": "Register a partner's public key(s) for private_key_jwt (administrator).",
            "description": "One of jwk (a public JWK with a kid: RSA 2048+, EC P-384 or P-256, OKP Ed25519), "
            "jwks (a JWKS document) or jwksUrl (https, or http to loopback; fetched now, and again for an "
            "unknown kid at most once per GATEWAY_JWKS_REFRESH_SECONDS). The partner signs assertions with "
            "iss = sub = the answer's clientId and the key's kid in the header. Audited.",
            "parameters": [_ORG],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("PartnerKeyRequest")}},
            },
            "responses": {
                "201": json_body(ref("PartnerKeys"), "The keys registered and their client id."),
                "400": error_body("The key does not load, is private, has no kid, or the body is malformed."),
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
                "404": error_body("No such organization, or no such client of it."),
                "409": error_body("The client already has a key with this kid, or a JWKS URL."),
                "502": error_body("The JWKS URL could not be read."),
            },
        },
        "get": {
            "operationId": "listPartnerKeys",
            "summary": "A partner's registered public keys and JWKS URLs (administrator).",
            "parameters": [_ORG],
            "responses": {
                "200": json_body(ref("PartnerKeys"), "Keys by kid and thumbprint, never the key itself."),
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
                "404": error_body("No such organization."),
            },
        },
    },
    "/api/v1/partners/{organization}/keys/{kid}": {
        "delete": {
            "operationId": "removePartnerKey",
            "summary": "Remove a partner's key: assertions signed with it are refused (administrator).",
            "parameters": [_ORG, _KID],
            "responses": {
                "200": json_body(ref("PartnerKeys"), "The keys removed."),
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
                "404": error_body("No such key of the organization."),
            },
        }
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "PartnerKeyRequest": {
        "type": "object",
        "properties": {
            "jwk": {"type": "object", "description": "A public JWK with a kid."},
            "jwks": {"type": "object", "description": "A JWKS document: {keys: [...]}."},
            "jwksUrl": {"type": "string", "format": "uri"},
            "clientId": {"type": "string", "description": "Add to this key set (left out: a new client)."},
            "role": {"enum": list(ROLES), "description": "The new client's role (default partner)."},
        },
        "additionalProperties": False,
    },
    "PartnerKey": closed_object(
        {
            "kid": TEXT,
            "clientId": TEXT,
            "organization": TEXT,
            "algorithm": TEXT,
            "thumbprint": {"type": "string", "description": "RFC 7638 (SHA-256, base64url)."},
            "source": {"enum": ["jwk", "jwks-url"]},
            "jwksUrl": _NULLABLE_TEXT,
            "addedBy": TEXT,
            "addedAt": {"type": "string", "format": "date-time"},
        }
    ),
    "PartnerKeys": closed_object(
        {
            "organization": TEXT,
            "keys": {"type": "array", "items": ref("PartnerKey")},
            "jwksUrls": {
                "type": "array",
                "items": closed_object(
                    {"clientId": TEXT, "url": TEXT, "fetchedAt": _NULLABLE_TEXT, "keys": COUNT}
                ),
            },
        }
    ),
}
