"""The FHIR R4 server at ``/fhir/r4``: capabilities, create, read, vread, search, update, patch,
and the exchange doors (a Bundle at the base, NDJSON at ``$import``).

The routes are one table (``fhir_routes.ROUTES``): Flask is given them from it, and the
CapabilityStatement and the OpenAPI paths are generated from it, so what is announced is what
routes. Each view checks the token's SMART scope, calls one service function and renders; every
answer, errors included, is FHIR JSON or XML (``fhir_wire``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.core.fhir_query import parse_search
from gateway.errors import InputInvalid, Issue, MethodNotAllowed, NotFound, UnsupportedFormat
from gateway.formats.fhir_outcome import response_bundle, summary_outcome
from gateway.formats.fhir_shape import is_resource_type
from gateway.formats.fhir_xml import xml_to_json
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest, record_oversized
from gateway.service.fhir import fhir_reads, fhir_writes, scopes
from gateway.service.fhir.fhir_access import Reader
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.errors import status_for_code
from gateway.web.fhir_answers import capability, created, found_response, outcome_response, searchset
from gateway.web.fhir_routes import ROUTES, SERVED_TYPES
from gateway.web.fhir_wire import FHIR_JSON as FHIR_JSON_TYPE
from gateway.web.fhir_wire import WIRE_FORMATS, register_fhir_errors, render

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/json",
    FHIR_JSON_TYPE,
)
STATUS = {"mapped": 200, "partial": 200, "held": 202, "ignored": 200}

log = logging.getLogger(__name__)
bp = Blueprint("fhir", __name__, url_prefix="/fhir/r4")
register_fhir_errors(bp)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint != "fhir.metadata":  # the CapabilityStatement is public (FHIR R4 3.1.0.11)
        require_principal()


def metadata() -> Response:
    return render(capability(request.url_root.rstrip("/") + "/fhir/r4", current_runtime()), 200)


def post_bundle() -> Response:
    summary, payload = _ingest(None, default_format="fhir")
    bundle = _bundle_of(payload) if summary.status != "rejected" or "error" not in summary.outcome else None
    if bundle is not None and bundle.get("type") in ("batch", "transaction"):
        entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
        return render(response_bundle(summary.to_dict(), entries, bundle["type"]), 200)
    return _outcome(summary)


def post_import() -> Response:
    summary, _ = _ingest(None, default_format="fhir-ndjson")
    return _outcome(summary)


def create(resource_type: str) -> Response:
    _served(resource_type, "c")
    try:
        request.get_data()
    except RequestEntityTooLarge:  # refused unread, and the refusal is stored like every exchange
        summary, _ = _ingest(resource_type, default_format="fhir")
        return _outcome(summary)
    written = fhir_writes.create(
        current_runtime(), current_principal(), resource_type, _body("fhir"), _create_condition()
    )
    return created(written, resource_type)


def _create_condition() -> str | None:
    """``If-None-Exist``, or the criteria in the URL's query (as fhirpy's ``get_or_create`` sends)."""
    header = request.headers.get("If-None-Exist")
    if header:
        return header
    criteria = [(k, v) for k, v in request.args.items(multi=True) if k not in ("_format", "_pretty")]
    return urlencode(criteria) if criteria else None


def read(resource_type: str, resource_id: str) -> Response:
    _served(resource_type, "r")
    found = fhir_reads.read(current_runtime(), _reader(), resource_type, resource_id)
    return found_response(found, resource_type, 200)


def vread(resource_type: str, resource_id: str, version_id: str) -> Response:
    _served(resource_type, "r")
    if not version_id.isdigit():
        raise NotFound(f"no version '{version_id}'", [Issue(path="vid", message="a version id is a number")])
    found = fhir_reads.read(current_runtime(), _reader(), resource_type, resource_id, int(version_id))
    return found_response(found, resource_type, 200)


def search(resource_type: str) -> Response:
    _served(resource_type, "s")
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
    parsed = parse_search(resource_type, pairs, strict=strict)
    page = fhir_reads.search(current_runtime(), _reader(), parsed)
    return render(searchset(request.base_url.removesuffix("/_search"), parsed, page), 200)


def update(resource_type: str, resource_id: str) -> Response:
    _served(resource_type, "u")
    body = _body("fhir")
    try:
        document = _document(body.payload)
    except InputInvalid:
        # Nothing is lost: a body that is no resource is stored, refused with its reason, replayable.
        summary, _ = _ingest(resource_type, default_format="fhir")
        return _outcome(summary)
    written = fhir_writes.update(
        current_runtime(),
        current_principal(),
        resource_type,
        resource_id,
        document,
        body,
        request.headers.get("If-Match"),
    )
    return created(written, resource_type, updated=True)


def patch(resource_type: str, resource_id: str) -> Response:
    _served(resource_type, "u")
    if request.mimetype not in PATCH_TYPES:
        raise UnsupportedFormat(
            "a PATCH here is a JSON Patch (RFC 6902) or a JSON Merge Patch (RFC 7386)",
            [
                Issue(
                    path="Content-Type",
                    message="send application/json-patch+json or application/merge-patch+json",
                )
            ],
        )
    rt, principal = current_runtime(), current_principal()
    operations = _json(request.get_data())
    document = fhir_writes.patched(rt, principal, resource_type, resource_id, operations)
    payload = orjson.dumps(document)
    body = fhir_writes.Body(payload=payload, format_name="fhir-json", content_type="application/fhir+json")
    written = fhir_writes.update(
        rt, principal, resource_type, resource_id, document, body, request.headers.get("If-Match")
    )
    return created(written, resource_type, updated=True)


def not_allowed(resource_type: str = "", resource_id: str = "") -> Response:
    raise MethodNotAllowed(
        f"{request.method} is not supported here",
        [Issue(path="method", message="see GET /fhir/r4/metadata for what this server does")],
    )


VIEWS: dict[str, Callable[..., Response]] = {
    "metadata": metadata,
    "post_bundle": post_bundle,
    "post_import": post_import,
    "create": create,
    "read": read,
    "vread": vread,
    "search": search,
    "update": update,
    "patch": patch,
    "not_allowed": not_allowed,
}
for _route in ROUTES:
    bp.add_url_rule(
        _route.rule,
        endpoint=_route.endpoint,
        view_func=VIEWS[_route.view],
        methods=list(_route.methods),
        strict_slashes=False,
    )


def _served(resource_type: str, access: str) -> None:
    if not is_resource_type(resource_type):
        raise NotFound(
            f"{resource_type} is not an R4 resource type",
            [Issue(path="type", message="see /fhir/r4/metadata")],
        )
    if access != "c" and resource_type not in SERVED_TYPES:
        raise NotFound(
            f"{resource_type} is not served here", [Issue(path="type", message="see /fhir/r4/metadata")]
        )
    scopes.require(current_principal(), resource_type, access)


def _reader() -> Reader:
    return Reader.of(current_principal())


def _body(default_format: str) -> fhir_writes.Body:
    payload = request.get_data()
    wire = WIRE_FORMATS.get(request.mimetype, default_format)
    return fhir_writes.Body(payload=payload, format_name=wire, content_type=request.content_type)


def _document(payload: bytes) -> dict[str, Any]:
    document = xml_to_json(payload) if payload.lstrip()[:1] == b"<" else _json(payload)
    if not isinstance(document, dict):
        raise InputInvalid(
            "the body is not a FHIR resource", [Issue(path="$", message="send one resource object")]
        )
    return document


def _json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(
            "the body is not JSON", [Issue(path=f"char {exc.pos}", message="send valid JSON")]
        ) from exc


def _ingest(entity: str | None, *, default_format: str) -> tuple[IngestSummary, bytes]:
    rt, source = current_runtime(), current_principal().organization_id
    wire = WIRE_FORMATS.get(request.mimetype, default_format)
    try:
        payload = request.get_data()
    except RequestEntityTooLarge:
        return record_oversized(rt, source_org=source, format_name=wire, size=request.content_length), b""
    summary = ingest(
        rt,
        Inbound(
            source_org=source,
            format_name=wire,
            payload=payload,
            entity=entity,
            content_type=request.content_type,
        ),
    )
    return summary, payload


def _bundle_of(payload: bytes) -> dict[str, Any] | None:
    """The request Bundle again, to answer entry by entry (it was stored and parsed already)."""
    try:
        doc = xml_to_json(payload) if payload.lstrip()[:1] == b"<" else orjson.loads(payload)
    except (InputInvalid, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("resourceType") == "Bundle" else None


def _outcome(summary: IngestSummary) -> Response:
    status = STATUS.get(summary.status)
    if status is None:
        error = summary.outcome.get("error")
        status = status_for_code(error["code"]) if error else 422
    return outcome_response(summary_outcome(summary.to_dict()), status)
