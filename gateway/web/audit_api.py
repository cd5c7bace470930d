"""HTTP endpoints for the audit: accountings of disclosures and the log's signed heads.

Registered by the app factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.core.accounting import to_csv
from gateway.errors import AccessDenied, InputInvalid, Issue, NotFound
from gateway.service.administration.partners import AUDITED_ROLES
from gateway.service.compliance import audit
from gateway.service.compliance.accounting import accounting_for
from gateway.service.compliance.audit_access import reader_of, record_read
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.schema_parts import COUNT, TEXT, closed_object, error_body, json_body, ref

bp = Blueprint("audit_api", __name__)

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}

# -- the log's integrity: verify and signed tree heads (helper A) ------------------------


@bp.get("/api/v1/audit/verify")
def get_audit_verify() -> Response:
    # Verifying reads every entry's ids: compliance and administrators only, and the read is
    # audited before the answer (fail closed). A broken chain is a finding: 200 with ok false.
    require_principal()
    principal = current_principal()
    if principal.role not in AUDITED_ROLES:
        raise AccessDenied("access denied")
    rt = current_runtime()
    record_read(rt, reader_of(principal), "verify", {})
    return jsonify(audit.verify(rt).to_dict())


@bp.get("/api/v1/audit/checkpoint")
def get_audit_checkpoint() -> Response:
    # Any partner may hold a copy of the newest signed head: copies kept elsewhere are the point.
    require_principal()
    rt = current_runtime()
    head = audit.latest(rt, sign=False)
    if head is None:
        raise NotFound("no signed tree head yet")
    return jsonify({**head.to_dict(), "note": audit.note_of(rt, head)})


_UNAUTHORIZED = error_body("No valid bearer token (missing, expired, forged or revoked).")
OPENAPI_PATHS.update(
    {
        "/api/v1/audit/verify": {
            "get": {
                "operationId": "verifyAudit",
                "summary": "Verify the audit chain, its Merkle tree and every signed tree head (compliance, "
                "administrator).",
                "responses": {
                    "200": json_body(ref("AuditReport"), "The report; ok is false when a break is found."),
                    "401": _UNAUTHORIZED,
                    "403": error_body("The credential is not a compliance or administrator credential."),
                },
            }
        },
        "/api/v1/audit/checkpoint": {
            "get": {
                "operationId": "getAuditCheckpoint",
                "summary": "The newest signed tree head of the audit log (JSON and C2SP signed note), to "
                "keep elsewhere and check the log against later.",
                "responses": {
                    "200": json_body(ref("AuditTreeHead"), "The newest signed head."),
                    "401": _UNAUTHORIZED,
                    "404": error_body("Nothing has been signed yet."),
                },
            }
        },
    }
)
_BREAK = closed_object({"seq": {"type": "integer"}, "kind": TEXT, "message": TEXT})
OPENAPI_SCHEMAS.update(
    {
        "AuditBreak": _BREAK,
        "AuditReport": closed_object(
            {
                "ok": {"type": "boolean"},
                "entries": COUNT,
                "headSeq": COUNT,
                "headHash": TEXT,
                "root": TEXT,
                "breaks": {"type": "array", "items": ref("AuditBreak")},
                "warnings": {"type": "array", "items": ref("AuditBreak")},
            }
        ),
        "AuditTreeHead": closed_object(
            {
                "size": COUNT,
                "root": TEXT,
                "hash": TEXT,
                "time": TEXT,
                "keyId": TEXT,
                "signature": TEXT,
                "reason": TEXT,
                "note": TEXT,
            },
            optional=("reason",),
        ),
    }
)


# -- the accounting of disclosures for one student (34 CFR 99.32, 45 CFR 164.528) -------------

_DATE_PARAM = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


def _accounting_date(name: str) -> dt.date | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise InputInvalid("invalid accounting parameters", [Issue(path=name, message="a date as YYYY-MM-DD")])


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, allowed[0]) or allowed[0]
    if value not in allowed:
        raise InputInvalid("invalid accounting parameters", [Issue(path=name, message=" or ".join(allowed))])
    return value


@bp.get("/api/v1/audit/disclosures/<path:student>")
def get_audit_disclosures(student: str) -> Response:
    # A compliance credential sees every organization's disclosures; a partner only its own. An
    # unknown student answers as one with nothing visible (see service/compliance/accounting).
    require_principal()
    start, end = _accounting_date("from"), _accounting_date("to")
    family = _choice("family", ("false", "true")) == "true"
    fmt = _choice("format", ("json", "csv"))
    acc = accounting_for(
        current_runtime(), reader_of(current_principal()), student, start=start, end=end, family=family
    )
    if fmt == "csv":
        return Response(to_csv(acc), mimetype="text/csv")
    return jsonify(acc.to_dict())


_IDS = {"type": "array", "items": TEXT}
_NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
OPENAPI_PATHS["/api/v1/audit/disclosures/{student}"] = {
    "get": {
        "operationId": "getAccountingOfDisclosures",
        "summary": "The accounting of disclosures for one student (FERPA 34 CFR 99.32, HIPAA 45 CFR "
        "164.528): repeats summarised, internal rows marked, denied requests for the compliance officer.",
        "parameters": [
            {
                "name": "student",
                "in": "path",
                "required": True,
                "schema": TEXT,
                "description": "A stu-... id or SYSTEM|VALUE.",
            },
            {"name": "from", "in": "query", "schema": _DATE_PARAM, "description": "First day (UTC)."},
            {"name": "to", "in": "query", "schema": _DATE_PARAM, "description": "Last day (UTC)."},
            {"name": "family", "in": "query", "schema": {"enum": ["true", "false"]}},
            {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
        ],
        "responses": {
            "200": {
                "description": "The accounting (a partner sees only the disclosures it made or received).",
                "content": {
                    "application/json": {"schema": ref("AccountingOfDisclosures")},
                    "text/csv": {"schema": TEXT},
                },
            },
            "400": error_body("A date that is not YYYY-MM-DD, or an unknown family or format value."),
            "401": _UNAUTHORIZED,
            "404": error_body("A path segment beyond the edge limits."),
        },
    }
}
OPENAPI_SCHEMAS.update(
    {
        "AccountingRow": closed_object(
            {
                "date": TEXT,
                "lastDate": TEXT,
                "count": COUNT,
                "recipient": TEXT,
                "recipientRole": TEXT,
                "flow": TEXT,
                "sources": _IDS,
                "purpose": TEXT,
                "legalBasis": _IDS,
                "description": closed_object(
                    {"categories": _IDS, "elementCount": COUNT, "recordCount": COUNT}
                ),
                "agreements": _IDS,
                "consentIds": _IDS,
                "decisionIds": _IDS,
                "disclosureIds": _IDS,
                "emergency": {"type": "boolean"},
                "internal": {"type": "boolean"},
            }
        ),
        "AccountingDenial": closed_object(
            {
                "date": TEXT,
                "recipient": TEXT,
                "role": TEXT,
                "purpose": TEXT,
                "action": TEXT,
                "reasons": _IDS,
                "decisionId": TEXT,
            }
        ),
        "AccountingOfDisclosures": closed_object(
            {
                "student": TEXT,
                "from": _NULLABLE_DATE,
                "to": _NULLABLE_DATE,
                "family": {"type": "boolean"},
                "window": TEXT,
                "disclosures": {"type": "array", "items": ref("AccountingRow")},
                "denials": {"type": "array", "items": ref("AccountingDenial")},
            }
        ),
    }
)
