"""FHIR R4 endpoints: ``/fhir/r4`` (a Bundle), ``/fhir/r4/{resourceType}`` (one resource) and
``/fhir/r4/$import`` (NDJSON), answered the FHIR way.

Same bearer token as ``/api/v1`` (``auth.require_principal``), same road in
(``service.ingest.ingest``: the body is stored before it is parsed). Bodies are FHIR JSON, XML or
NDJSON by ``Content-Type`` (anything else is sniffed, and refused with a reason if it is none of
them). Answers are FHIR JSON or XML, chosen by ``_format``, then ``Accept``, then the request's
own type: a batch or transaction Bundle gets its ``*-response`` Bundle, everything else an
``OperationOutcome``; every error here, authentication included, is an OperationOutcome whose
issues name each problem's location. A held record (no student link yet) is a warning with the
stored message's id: 202.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.errors import InputInvalid, NotFound
from gateway.formats.fhir_outcome import response_bundle, summary_outcome
from gateway.formats.fhir_shape import is_resource_type
from gateway.formats.fhir_xml import xml_to_json
from gateway.service.ingest import IngestSummary, ingest, record_oversized
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.errors import status_for_code
from gateway.web.fhir_wire import WIRE_FORMATS, register_fhir_errors, render

STATUS = {"mapped": 200, "partial": 200, "held": 202, "ignored": 200}

log = logging.getLogger(__name__)
bp = Blueprint("fhir", __name__, url_prefix="/fhir/r4")
bp.before_request(require_principal)
register_fhir_errors(bp)


@bp.post("")
def post_bundle() -> Response:
    summary, payload = _ingest(None, default_format="fhir")
    bundle = _bundle_of(payload) if summary.status != "rejected" or "error" not in summary.outcome else None
    if bundle is not None and bundle.get("type") in ("batch", "transaction"):
        entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
        return render(response_bundle(summary.to_dict(), entries, bundle["type"]), 200)
    return _outcome(summary)


@bp.post("/<resource_type>")
def post_resource(resource_type: str) -> Response:
    if not is_resource_type(resource_type):
        raise NotFound(f"{resource_type} is not an R4 resource type", [])
    summary, _ = _ingest(resource_type, default_format="fhir")
    return _outcome(summary, created=True, root=resource_type)


@bp.post("/$import")
def post_import() -> Response:
    summary, _ = _ingest(None, default_format="fhir-ndjson")
    return _outcome(summary)


def _ingest(entity: str | None, *, default_format: str) -> tuple[IngestSummary, bytes]:
    rt, source = current_runtime(), current_principal().organization_id
    wire = WIRE_FORMATS.get(request.mimetype, default_format)
    try:
        payload = request.get_data()
    except RequestEntityTooLarge:
        return record_oversized(rt, source_org=source, format_name=wire, size=request.content_length), b""
    summary = ingest(
        rt,
        source_org=source,
        format_name=wire,
        payload=payload,
        entity=entity,
        content_type=request.content_type,
    )
    return summary, payload


def _bundle_of(payload: bytes) -> dict[str, Any] | None:
    """The request Bundle again, to answer entry by entry (it was stored and parsed already)."""
    try:
        doc = xml_to_json(payload) if payload.lstrip()[:1] == b"<" else orjson.loads(payload)
    except (InputInvalid, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("resourceType") == "Bundle" else None


def _outcome(summary: IngestSummary, *, created: bool = False, root: str | None = None) -> Response:
    body = summary.to_dict()
    status = STATUS.get(summary.status)
    if status is None:
        error = summary.outcome.get("error")
        status = status_for_code(error["code"]) if error else 422
    elif created and summary.status == "mapped":
        status = 201
    return render(summary_outcome(body, root), status)
