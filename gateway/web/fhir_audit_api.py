"""``GET /fhir/r4/AuditEvent`` (search, paged) and ``GET /fhir/r4/AuditEvent/{id}``: the audit's
decision and disclosure entries as IHE BALP AuditEvents (formats.fhir_audit_event).

Same bearer token as the rest of /fhir/r4, answers as FHIR JSON or XML, errors as an
OperationOutcome naming the parameter. A compliance officer or administrator sees every entry; a
partner only the decisions and disclosures it was source or recipient of, and an entry it may not
see is answered exactly like one that does not exist. A searchset has no ``total`` (a count would
leak what is hidden); ``next`` links carry an opaque cursor (the last seq). Every search and read
is audited before it is answered. Flask prefers these static rules to fhir_api's
``/fhir/r4/<resource_type>`` (which only takes POST anyway).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from gateway.errors import GatewayError, InputInvalid, Issue, NotFound
from gateway.formats.fhir_audit_event import STUDENT_SYSTEM, bundle, seq_of
from gateway.formats.fhir_outcome import error_outcome
from gateway.service.compliance import audit_export as export
from gateway.service.compliance.audit_access import reader_of
from gateway.web import fhir_wire
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.errors import HTTP_CODES
from gateway.web.fhir_openapi import _FORMAT, _outcome
from gateway.web.schema_parts import TEXT, Schema, closed_object

bp = Blueprint("fhir_audit_api", __name__, url_prefix="/fhir/r4/AuditEvent")
bp.before_request(require_principal)

DEFAULT_COUNT, MAX_COUNT = 50, 500
_CURSOR = "_cursor"


def _count() -> int:
    raw = request.args.get("_count", "")
    if raw == "":
        return DEFAULT_COUNT
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_COUNT):
        raise InputInvalid(
            "invalid _count", [Issue(path="_count", message=f"a whole number from 1 to {MAX_COUNT}")]
        )
    return int(raw)


def _cursor() -> int:
    raw = request.args.get(_CURSOR, "")
    if raw == "":
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not (text.startswith("s") and text[1:].isdigit() and len(text) < 20):
        raise InputInvalid(
            "invalid paging cursor", [Issue(path=_CURSOR, message="use the next link as given")]
        )
    return int(text[1:])


def _encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode("ascii").rstrip("=")


def _student() -> str | None:
    # patient=<id>, patient=Patient/<id>, or entity=<system>|<id> (the gateway's student system)
    patient = request.args.get("patient")
    if patient is not None:
        return patient.removeprefix("Patient/")
    entity = request.args.get("entity")
    if entity is not None:
        return entity.removeprefix(f"{STUDENT_SYSTEM}|")
    return None


def _query() -> export.ExportQuery:
    dates = tuple(export.parse_date(v, "date") for v in request.args.getlist("date"))
    return export.ExportQuery(dates=dates, student=_student(), after_seq=_cursor())


@bp.get("")
def search() -> Response:
    count, query = _count(), _query()
    rt, reader = current_runtime(), reader_of(current_principal())
    export.audit_export(rt, reader, query, fmt="fhir-searchset")
    events, last = export.page(rt, reader, query, count)
    links = [("self", request.url)]
    if last is not None:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != _CURSOR] + [
            (_CURSOR, _encode(last))
        ]
        links.append(("next", f"{request.base_url}?{urlencode(args)}"))
    return fhir_wire.render(bundle(events, kind="searchset", links=links), 200)


@bp.get("/<resource_id>")
def read(resource_id: str) -> Response:
    seq = seq_of(resource_id)
    rt, reader = current_runtime(), reader_of(current_principal())
    query = export.ExportQuery(seq=seq if seq is not None else -1, kinds=())
    export.audit_export(rt, reader, query, fmt="fhir-read")
    events, _ = export.page(rt, reader, query, 1) if seq is not None else ([], None)
    if not events:
        raise NotFound(
            "no such AuditEvent", [Issue(path="id", message="unknown or not visible to this credential")]
        )
    return fhir_wire.render(events[0], 200)


@bp.errorhandler(GatewayError)
def _gateway_error(error: GatewayError) -> Response:
    return fhir_wire.render(
        error_outcome(error.code, error.message, [i.to_dict() for i in error.issues]), error.status
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return fhir_wire.render(
        error_outcome(HTTP_CODES.get(code, "http_error"), exc.description or exc.name, []), code
    )


def _fhir_answer(description: str) -> Schema:
    return {
        "description": description,
        "content": {
            "application/fhir+json": {"schema": {"$ref": "#/components/schemas/AuditEventBundle"}},
            "application/fhir+xml": {"schema": {"type": "string", "description": "The same, as FHIR XML."}},
        },
    }


_PARAMS: list[Schema] = [
    _FORMAT,
    {
        "name": "date",
        "in": "query",
        "required": False,
        "description": "recorded date or instant with a prefix ge, gt, le, lt or eq; repeatable.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "_count",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
    },
    {"name": _CURSOR, "in": "query", "required": False, "description": "From a next link.", "schema": TEXT},
    {"name": "patient", "in": "query", "required": False, "description": "The student id.", "schema": TEXT},
    {
        "name": "entity",
        "in": "query",
        "required": False,
        "description": f"{STUDENT_SYSTEM}|<student id>",
        "schema": TEXT,
    },
]
_READ_ERRORS = {
    "401": _outcome("No valid bearer token."),
    "404": _outcome("No such AuditEvent visible to this credential."),
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "AuditEventBundle": {
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"const": "searchset"},
            "link": {"type": "array", "items": closed_object({"relation": TEXT, "url": TEXT})},
            "entry": {"type": "array", "items": {"type": "object"}},
        },
    },
    "AuditEvent": {
        "type": "object",
        "required": ["resourceType", "id", "type", "recorded", "agent", "source"],
        "properties": {"resourceType": {"const": "AuditEvent"}, "id": TEXT},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/fhir/r4/AuditEvent": {
        "get": {
            "operationId": "searchFhirAuditEvents",
            "summary": "Decision and disclosure entries as BALP AuditEvents (searchset, paged, no total).",
            "parameters": _PARAMS,
            "responses": {
                "200": _fhir_answer("A searchset Bundle; a next link when there is more."),
                "400": _outcome("A parameter is invalid; the issue names it."),
                **_READ_ERRORS,
            },
        }
    },
    "/fhir/r4/AuditEvent/{resource_id}": {
        "get": {
            "operationId": "readFhirAuditEvent",
            "summary": "One AuditEvent by id.",
            "parameters": [_FORMAT, {"name": "resource_id", "in": "path", "required": True, "schema": TEXT}],
            "responses": {
                "200": {
                    "description": "The AuditEvent.",
                    "content": {
                        "application/fhir+json": {"schema": {"$ref": "#/components/schemas/AuditEvent"}},
                        "application/fhir+xml": {"schema": {"type": "string"}},
                    },
                },
                **_READ_ERRORS,
            },
        }
    },
}
