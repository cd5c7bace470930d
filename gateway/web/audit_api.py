"""HTTP endpoints for the audit: accountings of disclosures and the log's signed heads.

Registered by the app factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("audit_api", __name__)

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}
