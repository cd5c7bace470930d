"""FHIR on the wire: media types, content negotiation, rendering and OperationOutcome errors.

Every answer under ``/fhir/r4`` goes through ``render``: JSON or XML chosen by ``_format``, then
``Accept``, then the request's own type; ``_pretty=true`` indents. Every error there, routing
and authentication included, is an OperationOutcome (``register_fhir_errors``).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from gateway.errors import GatewayError, Issue, NotAcceptable
from gateway.formats.fhir_outcome import error_outcome
from gateway.formats.fhir_xml_write import to_xml
from gateway.web.errors import HTTP_CODES

log = logging.getLogger(__name__)

FHIR_JSON, FHIR_XML, FHIR_NDJSON = "application/fhir+json", "application/fhir+xml", "application/fhir+ndjson"
WIRE_FORMATS = {
    FHIR_JSON: "fhir-json",
    "application/json": "fhir-json",
    FHIR_XML: "fhir-xml",
    "application/xml": "fhir-xml",
    "text/xml": "fhir-xml",
    FHIR_NDJSON: "fhir-ndjson",
    "application/x-ndjson": "fhir-ndjson",
    "application/ndjson": "fhir-ndjson",
}
_FORMAT_PARAM = {
    "json": FHIR_JSON,
    "xml": FHIR_XML,
    FHIR_JSON: FHIR_JSON,
    FHIR_XML: FHIR_XML,
    "application/json": FHIR_JSON,
    "application/xml": FHIR_XML,
    "text/xml": FHIR_XML,
}


def negotiated_type() -> str:
    asked = request.args.get("_format")
    if asked in _FORMAT_PARAM:
        return _FORMAT_PARAM[asked]
    accept = request.accept_mimetypes
    if not _any_served(accept) and "Accept" in request.headers:
        return FHIR_JSON
    xml = max(accept[t] for t in (FHIR_XML, "application/xml", "text/xml"))
    json = max(accept[t] for t in (FHIR_JSON, "application/json"))
    if xml != json:
        return FHIR_XML if xml > json else FHIR_JSON
    # no preference (no Accept, or */*): answer in the request's own type
    return FHIR_XML if WIRE_FORMATS.get(request.mimetype) == "fhir-xml" else FHIR_JSON


def acceptable() -> None:
    """``before_request`` of the FHIR blueprints: a ``_format`` or ``Accept`` that names neither
    FHIR JSON nor XML is a 406 (answered in JSON, the one format left)."""
    asked = request.args.get("_format")
    if asked is not None and asked not in _FORMAT_PARAM:
        raise NotAcceptable(
            f"_format '{asked[:40]}' is not served", [Issue(path="_format", message="use json or xml")]
        )
    if asked is None and "Accept" in request.headers and not _any_served(request.accept_mimetypes):
        raise NotAcceptable(
            "no media type in Accept is served here",
            [Issue(path="Accept", message=f"accept {FHIR_JSON} or {FHIR_XML}")],
        )


def _any_served(accept: Any) -> bool:
    served = (FHIR_JSON, "application/json", FHIR_XML, "application/xml", "text/xml")
    return any(accept[t] for t in served)


def render(doc: dict[str, Any], status: int) -> Response:
    media = negotiated_type()
    pretty = request.args.get("_pretty") == "true"
    body = (
        to_xml(doc) if media == FHIR_XML else orjson.dumps(doc, option=orjson.OPT_INDENT_2 if pretty else 0)
    )
    response = Response(body, status=status, mimetype=media)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="spgw"'
    return response


def register_fhir_errors(bp: Blueprint) -> None:
    bp.before_request(acceptable)
    bp.register_error_handler(GatewayError, fhir_gateway_error)
    bp.register_error_handler(HTTPException, fhir_http_error)
    bp.register_error_handler(Exception, fhir_unexpected)


def fhir_gateway_error(error: GatewayError) -> Response:
    response = render(
        error_outcome(error.code, error.message, [i.to_dict() for i in error.issues]), error.status
    )
    if error.code == "insufficient_scope":  # RFC 6750 3.1
        response.headers["WWW-Authenticate"] = 'Bearer realm="spgw", error="insufficient_scope"'
    return response


def fhir_http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return render(error_outcome(HTTP_CODES.get(code, "http_error"), exc.description or exc.name, []), code)


def fhir_unexpected(exc: Exception) -> Response:
    # Logged by type, route and frames, never the exception's message (it may quote the body's
    # PHI); answered as FHIR, like every error here.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s in %s %s\n%s", type(exc).__name__, request.method, request.url_rule, frames)
    message = "the gateway could not complete the request; it has been logged"
    return render(error_outcome("internal_error", message, []), 500)
