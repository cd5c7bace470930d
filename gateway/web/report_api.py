"""HTTP endpoints for compliance reports (/api/v1/reports/...) and retention.

``GET /api/v1/reports/flows?from=&to=&by=`` answers the flow report (gateway.service.compliance.reports):
whole for a compliance or administrator credential, restricted to the caller's own flows for a
partner. ``GET /api/v1/reports/retention`` lists the payload copies past retention and those
purged (compliance and administrators only). Both reads are audited. Registered by the app
factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.core.flow_report import GROUPINGS, PAIR, REASON_CODES
from gateway.errors import InputInvalid, Issue
from gateway.service.compliance.audit_access import reader_of
from gateway.service.compliance.reports import MAX_DAYS, flow_report, retention_report
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.schema_parts import COUNT, TEXT, Schema, closed_object, error_body, json_body, ref

bp = Blueprint("report_api", __name__)
v1 = Blueprint("reports_v1", __name__, url_prefix="/api/v1/reports")
v1.before_request(require_principal)


def _date_arg(name: str, default: dt.date) -> dt.date:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise InputInvalid("invalid report parameters", [Issue(path=name, message="a date as YYYY-MM-DD")])


@v1.get("/flows")
def get_flows() -> Response:
    rt = current_runtime()
    end = _date_arg("to", rt.now().date())
    start = _date_arg("from", end - dt.timedelta(days=30))
    by = request.args.get("by") or PAIR
    report = flow_report(rt, reader_of(current_principal()), start=start, end=end, by=by)
    return jsonify(report)


@v1.get("/retention")
def get_retention() -> Response:
    return jsonify(retention_report(current_runtime(), reader_of(current_principal())))


bp.register_blueprint(v1)


# -- the OpenAPI description (merged by gateway.web.openapi.build_openapi) ---------------------

DATE: Schema = {"type": "string", "format": "date"}
IDS: Schema = {"type": "array", "items": TEXT}
UNAUTHORIZED = error_body("No valid bearer token (missing, expired, forged or revoked).")


def _agreement_item(*extra: str) -> Schema:
    properties: Schema = {"key": TEXT, "id": TEXT, "version": COUNT, "parties": IDS}
    if "unsignedBy" in extra:
        properties["unsignedBy"] = IDS
    if "expires" in extra:
        properties["expires"] = DATE
    return closed_object(properties)


OPENAPI_SCHEMAS: dict[str, Any] = {
    "FlowReport": closed_object(
        {
            "from": DATE,
            "to": DATE,
            "by": {"enum": list(GROUPINGS)},
            "scope": {
                "type": "string",
                "description": "all, or the organization the report is restricted to.",
            },
            "totals": closed_object(
                {k: COUNT for k in ("disclosures", "records", "decisions", "denials", "emergencies")}
            ),
            "flows": {
                "type": "array",
                "items": closed_object(
                    {
                        "source": TEXT,
                        "recipient": TEXT,
                        "category": TEXT,
                        "purpose": TEXT,
                        "disclosures": COUNT,
                        "records": COUNT,
                        "flows": {"type": "object", "additionalProperties": COUNT},
                    },
                    optional=("source", "recipient", "category", "purpose"),
                ),
            },
            "denials": {
                "type": "array",
                "items": closed_object(
                    {
                        "reason": {"enum": list(REASON_CODES)},
                        "source": TEXT,
                        "recipient": TEXT,
                        "purpose": TEXT,
                        "denials": COUNT,
                        "categories": IDS,
                    }
                ),
            },
            "consents": closed_object({"granted": IDS, "revoked": IDS, "expired": IDS}),
            "agreements": closed_object(
                {
                    "proposed": {"type": "array", "items": _agreement_item()},
                    "unsigned": {"type": "array", "items": _agreement_item("unsignedBy")},
                    "ending": {"type": "array", "items": _agreement_item("expires")},
                }
            ),
            "emergencies": {
                "type": "array",
                "items": closed_object(
                    {
                        "date": DATE,
                        "id": TEXT,
                        "sources": IDS,
                        "recipient": TEXT,
                        "purpose": TEXT,
                        "categories": IDS,
                    }
                ),
            },
            "retention": {
                "type": "object",
                "description": "Counts of stored copies (whole reports only).",
                "additionalProperties": COUNT,
            },
        }
    ),
    "RetentionReport": closed_object(
        {
            "date": DATE,
            "counts": closed_object({"purge": COUNT, "pending": COUNT, "purged": COUNT}),
            "copies": {
                "type": "array",
                "items": closed_object(
                    {
                        "kind": {"enum": ["message", "delivery"]},
                        "id": TEXT,
                        "status": TEXT,
                        "source": TEXT,
                        "recipient": {"type": ["string", "null"]},
                        "standing": {"enum": ["past-retention", "past-retention-pending", "purged"]},
                        "retentionEnds": {"type": ["string", "null"], "format": "date"},
                        "agreements": IDS,
                    }
                ),
            },
        }
    ),
}

_DATE_PARAM = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/reports/flows": {
        "get": {
            "operationId": "getFlowReport",
            "summary": "Flows by organization pair, category or purpose; denials by reason; consents "
            "granted, revoked and expired; agreements proposed, unsigned or ending within 60 days; "
            "emergency disclosures; payload copies past retention.",
            "description": "A compliance or administrator credential gets the whole report; a partner "
            "gets it restricted to flows it made or received, its own consents and agreements, and no "
            f"retention counts. No student ids. The read is audited. At most {MAX_DAYS} days.",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "schema": _DATE_PARAM,
                    "description": "Default: 30 days before to.",
                },
                {"name": "to", "in": "query", "schema": _DATE_PARAM, "description": "Default: today."},
                {"name": "by", "in": "query", "schema": {"enum": list(GROUPINGS)}},
            ],
            "responses": {
                "200": json_body(ref("FlowReport"), "The report."),
                "400": error_body(
                    "A date is not YYYY-MM-DD, the range is reversed or too long, or by is unknown."
                ),
                "401": UNAUTHORIZED,
            },
        }
    },
    "/api/v1/reports/retention": {
        "get": {
            "operationId": "getRetentionReport",
            "summary": "Stored payload copies past their agreement's retention (to purge, or pending a "
            "replay or attempt) and those purged; ids and dates only.",
            "responses": {
                "200": json_body(ref("RetentionReport"), "The copies past retention and purged."),
                "401": UNAUTHORIZED,
                "403": error_body("Only compliance and administrator credentials read the retention report."),
            },
        }
    },
}
