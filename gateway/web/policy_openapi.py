"""The OpenAPI description of the policy endpoints (``gateway.web.policy_api``), as data.

Kept apart from the views so each stays short; ``gateway.web.openapi`` merges it into the
document and ``tests/test_web_openapi.py`` checks real answers against it. The shared ``Error``
and ``Issue`` schemas come from that document. Nothing here imports ``gateway.web.openapi``:
it imports the API modules, so importing it back would be circular.
"""

from __future__ import annotations

from gateway.web import agreement_openapi
from gateway.web.schema_parts import TEXT, Schema, closed_object, error_body, json_body, ref

OPTIONAL_TEXT: Schema = {"type": ["string", "null"]}
OPTIONAL_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
TEXTS: Schema = {"type": "array", "items": TEXT}
FHIR_JSON = "application/fhir+json"


def _unauthorized() -> Schema:
    response = error_body("No valid bearer token (missing, expired, forged or revoked).")
    response["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge (RFC 6750)."}
    }
    return response


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": TEXT}


def _body(schema: Schema, required: bool = True, media: tuple[str, ...] = ("application/json",)) -> Schema:
    return {"required": required, "content": {m: {"schema": schema} for m in media}}


def _consent_summary() -> Schema:
    return closed_object(
        {
            "id": TEXT,
            "studentId": OPTIONAL_TEXT,
            "status": TEXT,
            "state": {
                "type": "string",
                "description": "active, revoked, expired, not-yet-valid, or the FHIR status otherwise.",
            },
            "scope": TEXT,
            "grantor": TEXT,
            "provision": {"enum": ["permit", "deny"]},
            "recipients": TEXTS,
            "categories": TEXTS,
            "purposes": TEXTS,
            "labels": TEXTS,
            "signerRole": OPTIONAL_TEXT,
            "signedAt": OPTIONAL_TIME,
            "expires": OPTIONAL_TIME,
            "revokedAt": OPTIONAL_TIME,
            "documentDigest": TEXT,
            "created": {"type": "boolean"},
            "cancelledDeliveries": {"type": "integer", "minimum": 0},
        }
    )


def _explanation() -> Schema:
    decision = {
        "decisionId": TEXT,
        "effect": {"enum": ["permit", "deny"]},
        "basis": TEXTS,
        "obligations": {
            "type": "array",
            "items": {"type": "object", "required": ["type"], "properties": {"type": TEXT}},
        },
        "matchedRules": TEXTS,
        "reasons": TEXTS,
        "policyVersion": TEXT,
    }
    inputs = {
        "action": TEXT,
        "source": TEXT,
        "recipient": TEXT,
        "categories": TEXTS,
        "regimes": TEXTS,
        "sensitivities": TEXTS,
        "purpose": TEXT,
        "role": TEXT,
        "actor": TEXT,
        "student": OPTIONAL_TEXT,
        "birthDateKnown": {
            "type": ["boolean", "null"],
            "description": "null for a partner: not its to know.",
        },
        "emergency": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "consentsConsidered": TEXTS,
        "agreementsInForce": TEXTS,
        "policyVersion": TEXT,
        "requestDigest": TEXT,
    }
    return closed_object({**decision, "inputs": closed_object(inputs)})


def _explain_request() -> Schema:
    return closed_object(
        {
            "source": {"type": "string", "description": "The organization the data comes from."},
            "recipient": {"type": "string", "description": "Who would receive it (default: the caller)."},
            "categories": TEXTS,
            "purpose": TEXT,
            "role": TEXT,
            "actor": {"type": "string", "description": "Who would read (default: the caller)."},
            "student": {
                "type": "string",
                "description": "stu-... or SYSTEM|VALUE: decide with its consents.",
            },
            "regimes": TEXTS,
            "sensitivities": TEXTS,
            "action": {"enum": ["ingest", "read", "disclose", "export", "aggregate"]},
            "emergencyReason": TEXT,
        },
        optional=(
            "recipient",
            "purpose",
            "role",
            "actor",
            "student",
            "regimes",
            "sensitivities",
            "action",
            "emergencyReason",
        ),
    )


SCHEMAS: dict[str, Schema] = {
    "FhirConsent": {
        "type": "object",
        "description": "A FHIR R4 Consent (Gravity SDOHCC Consent profile for sharing with agencies).",
        "required": ["resourceType", "id", "status", "provision"],
        "properties": {"resourceType": {"const": "Consent"}, "id": TEXT, "status": TEXT},
    },
    "ConsentSummary": _consent_summary(),
    "ConsentList": closed_object({"consents": {"type": "array", "items": ref("ConsentSummary")}}),
    "RevokeRequest": closed_object(
        {
            "at": {"type": "string", "format": "date-time"},
            "requestedBy": {
                "enum": ["organization", "student", "parent", "guardian", "legal-representative"],
                "description": "Who asked for the revocation (default: the calling organization).",
            },
        },
        optional=("at", "requestedBy"),
    ),
    "AgreementDocument": {
        "type": "object",
        "description": "A data-sharing agreement, checked against schemas/meta/agreement.schema.json.",
        "required": [
            "id",
            "version",
            "title",
            "parties",
            "status",
            "effective",
            "schedule",
            "purposes",
            "recipient_roles",
        ],
    },
    **agreement_openapi.SCHEMAS,
    "ExplainRequest": _explain_request(),
    "Explanation": _explanation(),
}


def _consent_paths() -> dict[str, Schema]:
    consent_id = _path("consent_id", "The consent's id (Consent.id).")
    not_yours = "No such consent the caller grants or receives."
    return {
        "/api/v1/consents": {
            "post": {
                "operationId": "importConsent",
                "summary": "Import a FHIR R4 Consent as its grantor (Consent.organization).",
                "description": "Checked whole: a consent missing a required element (what data, to whom, "
                "purpose, signature, date, expiry, student) or signed by someone who may not consent "
                "is refused with every problem named. The same consent again changes nothing.",
                "requestBody": _body(ref("FhirConsent"), media=(FHIR_JSON, "application/json")),
                "responses": {
                    "200": json_body(ref("ConsentSummary"), "Already held with this content."),
                    "201": json_body(ref("ConsentSummary"), "Stored."),
                    "400": error_body("Not a valid or complete consent: every problem as an issue."),
                    "401": _unauthorized(),
                    "403": error_body("The caller is not the consent's grantor."),
                    "409": error_body("A different consent already has this id."),
                    "415": error_body("The body is not JSON."),
                },
            },
            "get": {
                "operationId": "listConsents",
                "summary": "The consents the caller grants or receives.",
                "parameters": [
                    {
                        "name": "student",
                        "in": "query",
                        "required": False,
                        "description": "Only this student's (stu-... or SYSTEM|VALUE, URL-encoded).",
                        "schema": TEXT,
                    }
                ],
                "responses": {
                    "200": json_body(ref("ConsentList"), "The consents (never the patient identifier)."),
                    "401": _unauthorized(),
                },
            },
        },
        "/api/v1/consents/{consent_id}": {
            "get": {
                "operationId": "exportConsent",
                "summary": "The consent as FHIR R4 Consent; once revoked, inactive and ending then.",
                "parameters": [consent_id],
                "responses": {
                    "200": json_body(ref("FhirConsent"), "The consent.", media=FHIR_JSON),
                    "401": _unauthorized(),
                    "404": error_body(not_yours),
                },
            }
        },
        "/api/v1/consents/{consent_id}/revoke": {
            "post": {
                "operationId": "revokeConsent",
                "summary": "Revoke a consent the caller recorded or receives, from now (or an earlier 'at').",
                "description": "Revoking again changes nothing. Queued deliveries relying on it stop.",
                "parameters": [consent_id],
                "requestBody": _body(ref("RevokeRequest"), required=False),
                "responses": {
                    "200": json_body(ref("ConsentSummary"), "The revoked consent."),
                    "400": error_body(
                        "'at' is not a date-time with offset, is in the future or before signing."
                    ),
                    "401": _unauthorized(),
                    "404": error_body(not_yours),
                },
            }
        },
    }


def _explain_path() -> Schema:
    return {
        "post": {
            "operationId": "explainDecision",
            "summary": "What the policy decision point would decide for a request, and why.",
            "description": "Unknown purposes, roles, categories or organizations are a deny with that "
            "reason. The caller must be the source or the recipient (the recipient defaults to it).",
            "requestBody": _body(ref("ExplainRequest")),
            "responses": {
                "200": json_body(ref("Explanation"), "The decision and the inputs it read."),
                "400": error_body(
                    "A field of the wrong type, a missing source or categories, an unknown action."
                ),
                "401": _unauthorized(),
                "403": error_body("The caller is neither the source nor the recipient."),
                "415": error_body("The body is not JSON."),
            },
        }
    }


PATHS: dict[str, Schema] = {
    **_consent_paths(),
    **agreement_openapi.PATHS,
    "/api/v1/policy/explain": _explain_path(),
}
