"""SMART discovery: ``/.well-known/smart-configuration``, also under the FHIR base
(``/fhir/r4/.well-known/smart-configuration``, where FHIR clients look relative to the base).

Public, like any discovery document: it names the token endpoint (the configured public URL),
the client authentication methods and signing algorithms, and the SMART v2 system scopes a
credential can be granted. The partners' key administration (``partner_keys_api``) is registered
with it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from gateway.service.fhir.smart import smart_configuration
from gateway.web import partner_keys_api
from gateway.web.auth import current_runtime
from gateway.web.schema_parts import TEXT, Schema, closed_object, json_body, ref

bp = Blueprint("smart_api", __name__)
CONFIGURATION_PATHS = ("/.well-known/smart-configuration", "/fhir/r4/.well-known/smart-configuration")


def configuration() -> Response:
    response = jsonify(smart_configuration(current_runtime()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


for _number, _path in enumerate(CONFIGURATION_PATHS):
    bp.add_url_rule(_path, endpoint=f"configuration_{_number}", view_func=configuration, methods=["GET"])

bp.register_blueprint(partner_keys_api.bp)


# -- the OpenAPI description (merged by gateway.web.openapi.build_openapi) ---------------------

TEXTS: Schema = {"type": "array", "items": TEXT}


def _configuration_operation(number: int) -> Schema:
    return {
        "get": {
            "operationId": f"getSmartConfiguration{'Fhir' if number else ''}",
            "summary": "SMART configuration (Backend Services): token endpoint, methods, scopes.",
            "security": [],
            "responses": {"200": json_body(ref("SmartConfiguration"), "The discovery document.")},
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    **{path: _configuration_operation(n) for n, path in enumerate(CONFIGURATION_PATHS)},
    **partner_keys_api.OPENAPI_PATHS,
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "SmartConfiguration": closed_object(
        {
            "issuer": TEXT,
            "token_endpoint": {"type": "string", "format": "uri"},
            "grant_types_supported": TEXTS,
            "token_endpoint_auth_methods_supported": TEXTS,
            "token_endpoint_auth_signing_alg_values_supported": TEXTS,
            "scopes_supported": TEXTS,
            "response_types_supported": TEXTS,
            "capabilities": TEXTS,
        }
    ),
    **partner_keys_api.OPENAPI_SCHEMAS,
}
