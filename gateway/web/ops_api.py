"""Operating the gateway: ``/ready`` for load balancers and orchestrators, ``/metrics`` for
Prometheus. ``/health`` (liveness) is in gateway.web.api. Registered by the app factory;
documented in OPENAPI_PATHS."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from gateway.service.administration.health import readiness
from gateway.web.auth import current_runtime
from gateway.web.metrics import CONTENT_TYPE, metrics_page
from gateway.web.schema_parts import TEXT, closed_object, error_body, json_body, ref

bp = Blueprint("ops_api", __name__)


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    # No token: an orchestrator probes it. The body names checks, never a secret or a URL.
    state = readiness(current_runtime())
    return jsonify(state.to_dict()), 200 if state.ok else 503


bp.add_url_rule("/metrics", "metrics", metrics_page, methods=["GET"])


_CHECK = closed_object({"ok": {"type": "boolean"}, "detail": TEXT})
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Readiness": closed_object(
        {
            "status": {"enum": ["ready", "not-ready"]},
            "failed": {"type": "array", "items": {"enum": ["database", "migrations", "keys", "artifacts"]}},
            "checks": {
                "type": "object",
                "properties": {name: _CHECK for name in ("database", "migrations", "keys", "artifacts")},
                "required": ["database", "migrations", "keys", "artifacts"],
                "additionalProperties": False,
            },
        }
    ),
}
OPENAPI_PATHS: dict[str, Any] = {
    "/ready": {
        "get": {
            "operationId": "getReadiness",
            "summary": "Readiness: the database answers and is migrated to head, the signing keys load, "
            "the artifacts are loaded.",
            "security": [],
            "responses": {
                "200": json_body(ref("Readiness"), "Ready to serve."),
                "503": json_body(ref("Readiness"), "Not ready; `failed` names the checks that failed."),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "getMetrics",
            "summary": "Prometheus text exposition: exchanges, decisions, outbox, audit lag, requests. "
            "Administrator or compliance token, or the metrics_token setting.",
            "responses": {
                "200": {
                    "description": "The metrics (text/plain; version=0.0.4).",
                    "content": {CONTENT_TYPE.split(";")[0]: {"schema": TEXT}},
                },
                "401": error_body("No valid bearer token (missing, expired, forged or revoked)."),
                "403": error_body("The token is not an administrator's or compliance officer's."),
            },
        }
    },
}
