"""``GET /api/v1/plans/{student}/needs/{need}/suggestions``: services for one need of a student's
plan, from where the family lives, read as the calling partner (bearer token, like a plan read:
actor, role and purpose in the query; the same 404 when the plan shows this reader nothing).
The family's place is used only where the policy shows it to this reader for this purpose and is
never in the answer: ``location`` says only how it was found. Registered by the app factory;
documented in OPENAPI_PATHS."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.errors import InputInvalid, Issue
from gateway.service.directory.directory_match import REASONS, MatchRequest, match
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.params import iso_datetime
from gateway.web.schema_parts import TEXT, Schema, closed_object, error_body, json_body, ref

bp = Blueprint("directory_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)

SUGGESTIONS = "/api/v1/plans/{student}/needs/{need}/suggestions"


@bp.get("/plans/<path:student>/needs/<need>/suggestions")
def get_suggestions(student: str, need: str) -> Response:
    args = request.args
    when, km, limit = (
        iso_datetime(args.get("when")),
        _number(args.get("km"), "km", 5.0),
        args.get("limit", "10"),
    )
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 100):
        raise InputInvalid("invalid limit", [Issue(path="limit", message="a whole number from 1 to 100")])
    answer = match(
        current_runtime(),
        MatchRequest(
            student_ref=student,
            need_id=need,
            organization_id=current_principal().organization_id,
            actor=args.get("actor", ""),
            role=args.get("role", ""),
            purpose=args.get("purpose", ""),
            when=when,
            timezone=args.get("tz", "UTC"),
            km=km,
            limit=int(limit),
        ),
    )
    return jsonify(answer.to_dict())


def _number(raw: str | None, name: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 100:
        raise InputInvalid(f"invalid {name}", [Issue(path=name, message="a number of km from 0.1 to 100")])
    return value


def _query(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": TEXT}


_NULLABLE_TEXT: Schema = {"type": ["string", "null"]}
_TRANSIT = closed_object(
    {
        "route": TEXT,
        "mode": TEXT,
        "fromStop": TEXT,
        "departs": TEXT,
        "toStop": TEXT,
        "arrives": TEXT,
        "walkToStopKm": {"type": "number"},
        "walkFromStopKm": {"type": "number"},
    }
)
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Suggestion": closed_object(
        {
            "id": TEXT,
            "name": TEXT,
            "organization": TEXT,
            "address": TEXT,
            "score": {"type": "number"},
            "distanceKm": {"type": "number", "minimum": 0},
            "opens": {"type": ["string", "null"], "format": "date-time"},
            "closes": {"type": ["string", "null"], "format": "date-time"},
            "hoursKnown": {"type": "boolean"},
            "transit": {"oneOf": [{"type": "null"}, _TRANSIT]},
            "matchedBy": TEXT,
            "explanation": {
                "description": 'Why, in words: "1.2 km; bus 60 from Broad St at 15:40, arrives 15:58; '
                'open until 18:00; Spanish spoken; ages 0–18".',
                "type": "string",
            },
        }
    ),
    "NeedSuggestions": closed_object(
        {
            "student": TEXT,
            "need": {
                "description": "The need as the plan read shows it.",
                "type": "object",
                "required": ["id"],
                "properties": {"id": TEXT, "domain": TEXT, "code": {"type": "object"}, "status": TEXT},
                "additionalProperties": False,
            },
            "category": {"description": "The need's SDOH category (the crosswalk's key).", **_NULLABLE_TEXT},
            "when": {"type": "string", "format": "date-time"},
            "outcome": {
                "description": "suggested: the directory was searched; otherwise why it was not.",
                "enum": ["suggested", *REASONS],
            },
            "reason": {
                "description": "Why nothing was searched, in words; null when searched.",
                **_NULLABLE_TEXT,
            },
            "location": {
                "description": "How the family's place was found, never the place itself.",
                "enum": ["from the address coordinates", "from the postal code", None],
            },
            "suggestions": {"type": "array", "items": ref("Suggestion")},
        }
    ),
}
OPENAPI_PATHS: dict[str, Any] = {
    SUGGESTIONS: {
        "get": {
            "operationId": "getNeedSuggestions",
            "summary": "Services for one need of a student's plan, from where the family lives, best first.",
            "description": "Read as a plan read (the same decisions, field sets and 404). The family "
            "location (category location) is used only when the policy shows it to this reader for "
            "this purpose; otherwise the answer says so and nothing is searched. Audited without the "
            "location.",
            "parameters": [
                _path("student", "A canonical id (stu-...) or SYSTEM|VALUE, URL-encoded."),
                _path("need", "The need's id in the plan (needs[].id of a plan read)."),
                _query("actor", "Who in the calling organization asks.", TEXT, required=True),
                _query("role", "The reader's role (e.g. coordinator).", TEXT, required=True),
                _query("purpose", "Why (e.g. care-coordination); it decides what may be used.", TEXT, True),
                _query("when", "ISO date-time to be open at or after [default: now].", TEXT),
                _query("tz", "IANA zone for a when without offset and hours naming none [UTC].", TEXT),
                _query("km", "How far to look, 0.1-100 [5].", {"type": "number"}),
                _query("limit", "At most this many suggestions, 1-100 [10].", {"type": "integer"}),
            ],
            "responses": {
                "200": json_body(ref("NeedSuggestions"), "The suggestions, or why there are none."),
                "400": error_body("A parameter missing or invalid, or a term not in the vocabulary (named)."),
                "401": error_body("No valid bearer token (missing, expired, forged or revoked)."),
                "404": error_body(
                    "No plan, or nothing this reader may see (the plan read's answer); or no such need "
                    "in the plan this reader sees."
                ),
            },
        }
    }
}
