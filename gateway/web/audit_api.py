"""HTTP endpoints for the audit: accountings of disclosures and the log's signed heads.

Registered by the app factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from gateway.errors import AccessDenied, NotFound
from gateway.service import audit
from gateway.service.audit_access import reader_of, record_read
from gateway.service.partners import AUDITED_ROLES
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
