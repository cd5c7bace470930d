"""FHIR answers: a written or read resource with its headers (Location, ETag, Last-Modified and
``Prefer: return=``), a searchset Bundle with its links, and the CapabilityStatement."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response, request

from gateway.core.fhir_query import ParsedSearch
from gateway.core.fhir_search import SEARCH_PARAMETERS
from gateway.formats.fhir_outcome import summary_outcome
from gateway.service.fhir.fhir_reads import Found, SearchPage
from gateway.service.fhir.fhir_writes import Written
from gateway.service.fhir.smart import smart_security_extension
from gateway.service.runtime import Runtime
from gateway.web.fhir_routes import ROUTES, SERVED_TYPES, type_interactions
from gateway.web.fhir_wire import FHIR_JSON, FHIR_XML, render

FHIR_VERSION = "4.0.1"
# A resource stored is created, held for its student link or not: FHIR clients read 201 as created
# (a 202 means "still being processed" to them). The hold is in the OperationOutcome.
STATUS = {"mapped": 201, "partial": 201, "held": 201, "ignored": 200}


def _resource_headers(response: Response, resource_type: str, found: Found) -> Response:
    base = request.url_root.rstrip("/") + "/fhir/r4"
    resource_id = found.document.get("id")
    response.headers["Location"] = f"{base}/{resource_type}/{resource_id}/_history/{found.version_id}"
    response.headers["ETag"] = f'W/"{found.version_id}"'
    response.headers["Last-Modified"] = _http_date(found.last_updated)
    return response


def _http_date(iso: str) -> str:
    try:
        instant = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return format_datetime(instant.astimezone(dt.UTC), usegmt=True)


def found_response(found: Found, resource_type: str, status: int) -> Response:
    response = _resource_headers(render(found.document, status), resource_type, found)
    response.headers.pop("Location")  # a read names no new location
    return response


def outcome_response(outcome: dict[str, Any], status: int) -> Response:
    return render(outcome, status)


def created(written: Written, resource_type: str, *, updated: bool = False) -> Response:
    """201 (200 for an update), ``Prefer: return=`` honoured; an exchange that
    did not land answers its OperationOutcome with the status of its error."""
    prefer = _prefer_return()
    if written.existing and written.found is not None:  # a conditional create matched
        return _with_body(written.found, None, resource_type, 200, prefer)
    summary = written.summary
    assert summary is not None or written.found is not None
    outcome = summary_outcome(summary.to_dict(), resource_type) if summary is not None else None
    if written.found is None:
        status = _failed_status(summary.to_dict() if summary is not None else {})
        return render(outcome or {}, status)
    status = STATUS.get(summary.status, 200) if summary is not None else 200
    if updated and status == 201:
        status = 200
    return _with_body(written.found, outcome, resource_type, status, prefer)


def _failed_status(summary: dict[str, Any]) -> int:
    from gateway.web.errors import status_for_code

    error = summary.get("error")
    if summary.get("status") == "ignored":
        return 200
    return status_for_code(error["code"]) if error else 422


def _with_body(
    found: Found, outcome: dict[str, Any] | None, resource_type: str, status: int, prefer: str
) -> Response:
    if prefer == "minimal":
        response = Response(b"", status=status)
    elif prefer == "OperationOutcome":
        response = render(outcome or {"resourceType": "OperationOutcome", "issue": [_ok()]}, status)
    else:
        response = render(found.document, status)
    return _resource_headers(response, resource_type, found)


def _ok() -> dict[str, Any]:
    return {"severity": "information", "code": "informational", "diagnostics": "ok"}


def _prefer_return() -> str:
    for part in request.headers.get("Prefer", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "return":
            return value.strip('"')
    return "representation"


def searchset(base: str, parsed: ParsedSearch, page: SearchPage) -> dict[str, Any]:
    links = [{"relation": "self", "url": _page_url(base, parsed, page.offset)}]
    if parsed.summary != "count" and page.has_next:
        links.append({"relation": "next", "url": _page_url(base, parsed, page.offset + page.count)})
    if parsed.summary != "count" and page.offset > 0:
        links.append(
            {"relation": "previous", "url": _page_url(base, parsed, max(0, page.offset - page.count))}
        )
    entries = [_entry(base, d, "match") for d in page.matches] + [
        _entry(base, d, "include") for d in page.included
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base: str, document: dict[str, Any], mode: str) -> dict[str, Any]:
    root = base.rsplit("/", 1)[0]
    return {
        "fullUrl": f"{root}/{document.get('resourceType')}/{document.get('id')}",
        "resource": document,
        "search": {"mode": mode},
    }


def _page_url(base: str, parsed: ParsedSearch, offset: int) -> str:
    kept = [(k, v) for k, v in parsed.used if k not in ("_offset", "_count")]
    kept += [("_count", str(parsed.count)), ("_offset", str(offset))]
    fmt = request.args.get("_format")
    if fmt:
        kept.append(("_format", fmt))
    return f"{base}?{urlencode(kept)}"


def capability(base: str, rt: Runtime) -> dict[str, Any]:
    interactions = [{"code": code} for code in dict.fromkeys(type_interactions())]
    resources = [
        {
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "interaction": interactions,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": False,
            "conditionalCreate": True,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchInclude": [
                f"{resource_type}:{p.name}" for p in SEARCH_PARAMETERS[resource_type] if p.type == "reference"
            ],
            "searchParam": [
                {
                    "name": p.name,
                    "type": p.type,
                    **({"documentation": p.documentation} if p.documentation else {}),
                }
                for p in SEARCH_PARAMETERS[resource_type]
            ]
            + [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}],
        }
        for resource_type in SERVED_TYPES
    ]
    system = [
        {"code": r.interaction} for r in ROUTES if r.level == "system" and r.interaction == "transaction"
    ]
    system += [{"code": "batch"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": rt.now().date().isoformat(),
        "publisher": "Success Plan Gateway",
        "kind": "instance",
        "software": {"name": "Success Plan Gateway"},
        "implementation": {"description": "Success Plan Gateway FHIR R4 server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, FHIR_XML, "json", "xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": security(rt),
                "resource": resources,
                "interaction": system,
            }
        ],
    }


def security(rt: Runtime) -> dict[str, Any]:
    return smart_security_extension(rt)
