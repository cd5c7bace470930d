"""The OpenAPI 3.1 document of the HTTP API, built as data.

Built in Python rather than kept as a file so that shared pieces (the error shape, the accepted
content types, the error codes) come from the code that uses them. ``tests/test_web_openapi.py``
keeps it true: every route is documented, and real answers validate against their schemas.
"""

from __future__ import annotations

import copy
from typing import Any

import gateway
from gateway.service.exchange.messages import STATUSES
from gateway.web import (
    audit_api,
    delivery_api,
    directory_api,
    fhir_audit_api,
    ops_api,
    policy_api,
    report_api,
    smart_api,
)
from gateway.web.check_openapi import exchange_check
from gateway.web.errors import error_codes
from gateway.web.fhir_openapi import FHIR_ERROR, FHIR_NOT_FOUND
from gateway.web.fhir_openapi import OPENAPI_PATHS as FHIR_PATHS
from gateway.web.fhir_openapi import OPENAPI_SCHEMAS as FHIR_SCHEMAS
from gateway.web.schema_parts import COUNT, TEXT, Schema, closed_object, error_body, json_body, ref
from gateway.web.token_openapi import TOKEN_OPERATION, TOKEN_SCHEMAS

JSON_TYPES = (
    "application/json",
    "application/fhir+json",
    "application/x-ndjson",
    "application/fhir+ndjson",
)
XML_TYPES = ("application/xml", "text/xml", "application/fhir+xml")
ZIP_TYPES = ("application/zip", "application/octet-stream")
# The media types each wire format is sent as; a refused body sent as another type is answered
# 415 naming Content-Type (the likely cause), otherwise with the parser's own problems.
FORMAT_TYPES: dict[str, tuple[str, ...]] = {
    "edfi-json": JSON_TYPES[:2],
    "fhir-json": JSON_TYPES,
    "fhir-ndjson": JSON_TYPES,
    "fhir": JSON_TYPES + XML_TYPES,
    "fhir-xml": XML_TYPES,
    "edfi-xml": XML_TYPES[:2],
    "oneroster-csv": ZIP_TYPES,
    "oneroster": ZIP_TYPES,
    "oneroster-rest": JSON_TYPES[:1],
}
PLAN_SCHEMA_ID = "https://success-plan-gateway.org/schemas/success-plan/1.0.0"
SUMMARY_STATUSES = ["mapped", "partial", "held", "rejected", "failed", "ignored", "superseded"]
RECORD_STATUSES = ["accepted", "rejected", "held", "failed", "ignored"]


def _unauthorized() -> Schema:
    response = error_body("No valid bearer token (missing, expired, forged or revoked).")
    response["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge (RFC 6750)."}
    }
    return response


def _query(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _path(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


OPTIONAL_TEXT = {"type": ["string", "null"]}
REASON_CODE = {
    "type": "string",
    "description": "Why processing failed: the type name of the exception that stopped it (never its "
    "message), or Interrupted when the process running it ended; the message can be replayed.",
}


def _schemas() -> dict[str, Schema]:
    issue = closed_object({"path": TEXT, "message": TEXT})
    error_detail = closed_object(
        {
            "code": {"type": "string", "enum": error_codes()},
            "message": TEXT,
            "issues": {"type": "array", "items": ref("Issue")},
            "messageId": {"type": "string", "description": "The stored message, for a refused exchange."},
            "requestId": {"type": "string", "description": "The request id (X-Request-Id)."},
        },
        optional=("messageId", "requestId"),
    )
    return {
        "Issue": issue,
        "ErrorDetail": error_detail,
        "Error": closed_object({"error": ref("ErrorDetail")}),
        "Health": closed_object(
            {
                "status": {"const": "ok"},
                "version": TEXT,
                "database": {"enum": ["ok", "unavailable"]},
            }
        ),
        "RecordOutcome": closed_object(
            {
                "location": TEXT,
                "status": {"enum": RECORD_STATUSES},
                "reason": TEXT,
                "issues": {"type": "array", "items": ref("Issue")},
                "reasonCode": REASON_CODE,
            },
            optional=("issues", "reasonCode"),
        ),
        "IngestSummary": _ingest_summary(),
        "ExchangeCheck": exchange_check(RECORD_STATUSES),
        "PlanView": _plan_view(),
        "MessageCounts": closed_object({name: COUNT for name in RECORD_STATUSES}),
        "Message": closed_object(_message_properties()),
        "MessageDetail": closed_object(
            {**_message_properties(), "records": {"type": "array", "items": ref("RecordOutcome")}}
        ),
        "MessageList": closed_object(
            {
                "messages": {"type": "array", "items": ref("Message")},
                "limit": {"type": "integer", "minimum": 1},
                "offset": COUNT,
            }
        ),
    }


def _ingest_summary() -> Schema:
    return closed_object(
        {
            "messageId": TEXT,
            "status": {"enum": SUMMARY_STATUSES},
            "reason": TEXT,
            "accepted": COUNT,
            "rejected": COUNT,
            "held": COUNT,
            "failed": COUNT,
            "ignored": COUNT,
            "elementsChanged": COUNT,
            "students": COUNT,
            "records": {
                "type": "array",
                "items": ref("RecordOutcome"),
                "description": "Records not accepted, or accepted leaving elements behind (at most 1000).",
            },
            "error": ref("ErrorDetail"),
            "reasonCode": REASON_CODE,
            "warnings": {
                "type": "array",
                "description": "OneRoster: values read with one meaning, counted per file and column.",
                "items": {"type": "object"},
            },
        },
        optional=("error", "reasonCode", "warnings"),
    )


def _plan_view() -> Schema:
    return closed_object(
        {
            "plan": {
                "type": "object",
                "description": f"The parts of the Success Plan this reader may see ({PLAN_SCHEMA_ID}).",
            },
            "version": {"type": "integer", "minimum": 1},
            "disclosure": closed_object(
                {
                    "decisionIds": {"type": "array", "items": TEXT},
                    "policyVersion": TEXT,
                    "obligations": {
                        "type": "array",
                        "description": "What the recipient must honour: retention, redisclosure terms, "
                        "the 42 CFR 2.32 notice and consent copy, emergency records.",
                        "items": {"type": "object", "required": ["type"], "properties": {"type": TEXT}},
                    },
                }
            ),
        }
    )


def _message_properties() -> Schema:
    return {
        "id": TEXT,
        "source": TEXT,
        "format": TEXT,
        "entity": OPTIONAL_TEXT,
        "status": {"enum": list(STATUSES)},
        "reason": OPTIONAL_TEXT,
        "size": COUNT,
        "payloadDigest": TEXT,
        "receivedAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "attempts": COUNT,
        "counts": ref("MessageCounts"),
        "reasonCode": {**REASON_CODE, "type": ["string", "null"]},
    }


def _summary_responses() -> dict[str, Schema]:
    return {
        "200": json_body(ref("IngestSummary"), "Mapped, or partly mapped (the other records are listed)."),
        "202": json_body(ref("IngestSummary"), "Held: the subject is not linked to a student yet."),
        "400": error_body("The whole payload is not valid JSON, or a parameter is wrong (error.messageId)."),
        "401": _unauthorized(),
        "403": error_body("The sender is not a registered partner."),
        "404": error_body("No such message of the caller."),
        "413": error_body("The body is larger than the gateway accepts; the refusal is stored."),
        "415": error_body("Unknown format, or a body refused whose Content-Type is not a JSON type."),
        "422": error_body("Every record was refused or failed: issues per record, and error.messageId."),
        "500": error_body(
            "An internal error stopped processing: the message is kept as failed (error.messageId, "
            "reasonCode) and can be replayed once the fault is fixed."
        ),
    }


def _exchange_responses() -> dict[str, Schema]:
    responses = _summary_responses()
    responses["200"] = json_body(
        {"anyOf": [ref("IngestSummary"), ref("ExchangeCheck")]},
        "Mapped, or partly mapped (the other records are listed); with dry_run=true, the check's "
        "answer (whatever it found: read wouldReject).",
    )
    return responses


def _exchange_path() -> Schema:
    content: dict[str, Schema] = {kind: {"schema": {}} for kind in JSON_TYPES[:2]}
    content.update({kind: {"schema": {"type": "string"}} for kind in JSON_TYPES[2:] + XML_TYPES})
    content.update({kind: {"schema": {"type": "string", "format": "binary"}} for kind in ZIP_TYPES})
    return {
        "post": {
            "operationId": "postExchange",
            "summary": "Send an exchange (Ed-Fi JSON, FHIR JSON or NDJSON) as the calling partner.",
            "description": "The raw body is stored before anything can fail, then parsed, linked, "
            "decided on and merged. A body sent with another Content-Type is still stored and judged "
            "by its parser; if it is refused, the answer is 415 naming Content-Type.",
            "parameters": [
                _path("format_name", "The payload's standard: edfi-json or fhir-json."),
                _query("entity", "The Ed-Fi resource name (required for edfi-json).", TEXT),
                _query(
                    "dry_run",
                    "true: check the body without storing it (parsed, validated, mapped, decided on and "
                    "linked by the pipeline's own steps in a transaction that is rolled back); the answer "
                    "is an ExchangeCheck. Only that a check ran is audited (payload digest and counts).",
                    {"type": "boolean", "default": False},
                ),
            ],
            "requestBody": {"required": True, "content": content},
            "responses": _exchange_responses(),
        }
    }


def _plan_path() -> Schema:
    purpose = "Why the plan is read (e.g. care-coordination); it decides what is shown."
    return {
        "get": {
            "operationId": "getPlan",
            "summary": "Read the parts of a student's Success Plan this reader may see.",
            "parameters": [
                _path("student", "A canonical id (stu-...) or SYSTEM|VALUE, URL-encoded."),
                _query("actor", "Who in the calling organization reads.", TEXT, required=True),
                _query("role", "The reader's role (e.g. coordinator).", TEXT, required=True),
                _query("purpose", purpose, TEXT, required=True),
            ],
            "responses": {
                "200": json_body(ref("PlanView"), "The visible plan and the decisions that allowed it."),
                "400": error_body(
                    "actor, role or purpose is missing, or the role or purpose is not in the vocabulary "
                    "(each named as an issue, with the allowed terms)."
                ),
                "401": _unauthorized(),
                "404": error_body("No plan, or nothing this reader may see: the same answer either way."),
            },
        }
    }


def _emergency_path() -> Schema:
    body = {
        "type": "object",
        "properties": {"student": TEXT, "actor": TEXT, "role": TEXT, "threat": TEXT},
        "required": ["student", "actor", "role", "threat"],
        "additionalProperties": False,
    }
    return {
        "post": {
            "operationId": "emergencyRead",
            "summary": "FERPA 34 CFR 99.36: read a plan in a health-or-safety emergency, stating the threat.",
            "description": "Purpose 'emergency'; the threat is recorded as a digest and the read is flagged "
            "for the compliance report. An agreement must list the emergency purpose.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": json_body(ref("PlanView"), "The visible plan and the decisions that allowed it."),
                "400": error_body("A field missing, of the wrong type or unknown (each named as an issue)."),
                "401": _unauthorized(),
                "404": error_body("No plan, or nothing this reader may see: the same answer either way."),
                "415": error_body("The body is not JSON."),
            },
        }
    }


def _message_paths() -> dict[str, Schema]:
    message_id = _path("message_id", "The id returned when the exchange was sent (messageId).")
    return {
        "/api/v1/messages": {
            "get": {
                "operationId": "listMessages",
                "summary": "The caller's own stored exchanges, oldest first.",
                "parameters": [
                    _query("status", "Only messages with this status.", {"enum": list(STATUSES)}),
                    _query("limit", "At most this many.", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("offset", "Skip this many.", {"type": "integer", "minimum": 0}),
                ],
                "responses": {
                    "200": json_body(ref("MessageList"), "The messages (never their payloads)."),
                    "400": error_body("An unknown status or a bad limit/offset."),
                    "401": _unauthorized(),
                },
            }
        },
        "/api/v1/messages/{message_id}": {
            "get": {
                "operationId": "getMessage",
                "summary": "One of the caller's messages with its per-record problems.",
                "parameters": [message_id],
                "responses": {
                    "200": json_body(ref("MessageDetail"), "The message (never its payload)."),
                    "401": _unauthorized(),
                    "404": error_body("No such message of the caller."),
                },
            }
        },
        "/api/v1/messages/{message_id}/replay": {
            "post": {
                "operationId": "replayMessage",
                "summary": "Run one of the caller's messages through the pipeline again (idempotent).",
                "parameters": [message_id],
                "responses": _summary_responses(),
            }
        },
    }


def _public_paths() -> dict[str, Schema]:
    return {
        "/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Liveness and database reachability.",
                "security": [],
                "responses": {
                    "200": json_body(ref("Health"), "The gateway and its database answer."),
                    "503": json_body(ref("Health"), "The database does not answer."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document.",
                "security": [],
                "responses": {"200": json_body({"type": "object"}, "The OpenAPI 3.1 document.")},
            }
        },
        "/oauth/token": {"post": TOKEN_OPERATION},
    }


def _security_schemes() -> dict[str, Schema]:
    return {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "oauth2": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
        },
        "clientBasic": {"type": "http", "scheme": "basic", "description": "client_secret_basic"},
    }


def _with_limit_answers(paths: dict[str, Schema]) -> dict[str, Schema]:
    """Every path segment and query value is held to the edge limits before any view runs
    (``web/limits.py``): an operation with query parameters may answer 400 naming one, with path
    parameters 404 (nothing can be named so). A copy: the modules' own documents stay as written."""
    found = copy.deepcopy(paths)
    for path, item in found.items():
        for operation in item.values():
            kinds = {p.get("in") for p in operation.get("parameters", [])}
            responses = operation["responses"]
            fhir = path.startswith("/fhir/")
            if "query" in kinds:
                responses.setdefault("400", FHIR_ERROR if fhir else error_body(_LIMITS_400))
            if "path" in kinds:
                responses.setdefault("404", FHIR_NOT_FOUND if fhir else error_body(_LIMITS_404))
    return found


_LIMITS_400 = "A query value is outside the gateway's limits (a control character, over 1000 characters)."
_LIMITS_404 = "Nothing of that name (a path segment outside the limits names nothing either)."


def build_openapi() -> dict[str, Any]:
    """The whole document; ``/openapi.json`` serves it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Success Plan Gateway",
            "version": gateway.__version__,
            "description": "Exchanges school and health records into one consented Success Plan per "
            "student. Every error has one shape: {error: {code, message, issues: [{path, message}]}}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"oauth2": []}],
        "paths": _with_limit_answers(
            {
                **_public_paths(),
                "/api/v1/exchanges/{format_name}": _exchange_path(),
                "/api/v1/plans/{student}": _plan_path(),
                "/api/v1/plans/emergency-reads": _emergency_path(),
                **_message_paths(),
                **policy_api.OPENAPI_PATHS,
                **delivery_api.OPENAPI_PATHS,
                **audit_api.OPENAPI_PATHS,
                **report_api.OPENAPI_PATHS,
                **FHIR_PATHS,
                **fhir_audit_api.OPENAPI_PATHS,
                **smart_api.OPENAPI_PATHS,
                **ops_api.OPENAPI_PATHS,
                **directory_api.OPENAPI_PATHS,
            }
        ),
        "components": {
            "schemas": {
                **_schemas(),
                **policy_api.OPENAPI_SCHEMAS,
                **delivery_api.OPENAPI_SCHEMAS,
                **audit_api.OPENAPI_SCHEMAS,
                **report_api.OPENAPI_SCHEMAS,
                **FHIR_SCHEMAS,
                **fhir_audit_api.OPENAPI_SCHEMAS,
                **smart_api.OPENAPI_SCHEMAS,
                **ops_api.OPENAPI_SCHEMAS,
                **directory_api.OPENAPI_SCHEMAS,
                **TOKEN_SCHEMAS,
            },
            "securitySchemes": _security_schemes(),
        },
    }
