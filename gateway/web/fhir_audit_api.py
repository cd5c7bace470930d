"""HTTP endpoints for the FHIR AuditEvent export (/fhir/r4/AuditEvent).

Registered by the app factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("fhir_audit_api", __name__)

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}
