"""HTTP endpoints for policy (registered by the app factory; documented in OPENAPI_PATHS)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("policy_api", __name__)

# Merged into the OpenAPI document by gateway.web.openapi.build_openapi.
OPENAPI_PATHS: dict[str, Any] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {}
