"""The OpenAPI description of ``POST /oauth/token`` (merged by ``openapi.build_openapi``)."""

from __future__ import annotations

from typing import Any

from gateway.service.administration.partners import ASSERTION_TYPE
from gateway.web.schema_parts import TEXT, Schema, closed_object, json_body, ref

OAUTH_ERRORS = ["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"]


def _token_request() -> Schema:
    return {
        "type": "object",
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_id": {"type": "string", "description": "client_secret_post"},
            "client_secret": {"type": "string", "description": "client_secret_post"},
            "client_assertion_type": {"const": ASSERTION_TYPE, "description": "private_key_jwt"},
            "client_assertion": {
                "type": "string",
                "description": "private_key_jwt: a JWT with iss = sub = client id, aud = the gateway's "
                "public token URL (GATEWAY_PUBLIC_URL + /oauth/token, never the Host header's), exp at most "
                "5 minutes ahead, a jti (a non-empty string) never used before; signed with RS384, ES384, "
                "ES256 or EdDSA, and for a registered key set with the key's kid in the header.",
            },
            "scope": {
                "type": "string",
                "description": "SMART system scopes, space separated: v2 (system/Task.rs) or v1 "
                "(system/Task.read, .write, .*). Left out: every scope the credential may have.",
            },
            "purpose": {"type": "string", "description": "The purpose of the partner's reads (vocabulary)."},
            "role": {"type": "string", "description": "The policy role of the partner's reads (vocabulary)."},
        },
        "required": ["grant_type"],
    }


def _token_error(description: str) -> Schema:
    response = json_body(ref("TokenError"), description)
    response["headers"] = {
        "Cache-Control": {"schema": {"const": "no-store"}, "description": "Never cached."},
    }
    return response


TOKEN_OPERATION: Schema = {
    "operationId": "postToken",
    "summary": "Get an access token (OAuth 2.0 client credentials, SMART Backend Services).",
    "description": "Authenticate the client with HTTP Basic (client_secret_basic), with "
    "client_id and client_secret fields (client_secret_post), or with a signed JWT "
    "(private_key_jwt). Use exactly one. Refusals are RFC 6749 5.2 bodies.",
    "security": [{}, {"clientBasic": []}],
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": ref("TokenRequest")}},
    },
    "responses": {
        "200": json_body(ref("Token"), "A short-lived bearer token and the scopes it was granted."),
        "400": _token_error(
            "invalid_request (malformed, two authentication methods, a purpose or role outside the "
            "vocabulary), unsupported_grant_type, or invalid_scope (nothing asked can be granted, or no "
            "agreement in force allows the purpose and role)."
        ),
        "401": _token_error("invalid_client: client authentication failed (one answer for every cause)."),
    },
}
TOKEN_SCHEMAS: dict[str, Any] = {
    "TokenRequest": _token_request(),
    "Token": closed_object(
        {
            "access_token": TEXT,
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
            "scope": {"type": "string", "description": "The SMART v2 scopes granted, space separated."},
        }
    ),
    "TokenError": closed_object({"error": {"enum": OAUTH_ERRORS}, "error_description": TEXT}),
}
