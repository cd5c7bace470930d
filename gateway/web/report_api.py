"""HTTP endpoints for compliance reports (/api/v1/reports/...) and retention.

Registered by the app factory; documented in OPENAPI_PATHS.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("report_api", __name__)

OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}
