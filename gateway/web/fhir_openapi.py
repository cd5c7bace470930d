"""The OpenAPI paths and schemas of the FHIR R4 endpoints (``fhir_api``), merged into the document
by ``openapi.build_openapi``. Every answer is FHIR JSON or XML: a success or an error alike."""

from __future__ import annotations

import re

from gateway.web.fhir_routes import ROUTES, Route
from gateway.web.schema_parts import TEXT, Schema, closed_object, ref

FHIR_MEDIA = ("application/fhir+json", "application/fhir+xml")
REQUEST_MEDIA = (*FHIR_MEDIA, "application/json", "application/xml", "application/fhir+ndjson")
_STRINGS: Schema = {"type": "array", "items": TEXT}

OPENAPI_SCHEMAS: dict[str, Schema] = {
    "FhirIssue": closed_object(
        {
            "severity": {"enum": ["fatal", "error", "warning", "information"]},
            "code": TEXT,
            "diagnostics": TEXT,
            "location": _STRINGS,
            "expression": _STRINGS,
        },
        optional=("location", "expression"),
    ),
    "OperationOutcome": closed_object(
        {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {"type": "array", "items": ref("FhirIssue"), "minItems": 1},
        }
    ),
    "ResponseBundle": closed_object(
        {
            "resourceType": {"const": "Bundle"},
            "type": {"enum": ["batch-response", "transaction-response"]},
            "entry": {
                "type": "array",
                "items": closed_object(
                    {
                        "response": closed_object(
                            {"status": TEXT, "location": TEXT, "outcome": ref("OperationOutcome")},
                            optional=("location", "outcome"),
                        )
                    }
                ),
            },
        }
    ),
}


def _answer(schema: Schema, description: str) -> Schema:
    return {
        "description": description,
        "content": {
            "application/fhir+json": {"schema": schema},
            "application/fhir+xml": {"schema": {"type": "string", "description": "The same, as FHIR XML."}},
        },
    }


def _outcome(description: str) -> Schema:
    return _answer(ref("OperationOutcome"), description)


FHIR_ERROR = _outcome(
    "The payload is not FHIR R4 (or a transaction had a problem), or a parameter is outside "
    "the gateway's limits: nothing was written."
)
FHIR_NOT_FOUND = _outcome("The URL names no R4 resource type.")
_ERRORS = {
    "400": FHIR_ERROR,
    "401": _outcome("No valid bearer token."),
    "413": _outcome("The body is over the payload limit; the refusal is stored."),
    "422": _outcome("Every record was refused; each issue names its location."),
    "500": _outcome(
        "An internal error stopped processing: the message is kept as failed (its id in the last issue) "
        "and can be replayed once the fault is fixed."
    ),
}
_FORMAT = {
    "name": "_format",
    "in": "query",
    "required": False,
    "description": "Answer as json or xml (else Accept, else the request's type).",
    "schema": {"enum": ["json", "xml", *FHIR_MEDIA]},
}


_RESOURCE: Schema = {
    "type": "object",
    "description": "A FHIR R4 resource (validated with fhir.resources when received).",
    "required": ["resourceType"],
    "properties": {"resourceType": TEXT, "id": TEXT},
}
_SEARCHSET: Schema = {
    "type": "object",
    "required": ["resourceType", "type", "link"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "searchset"},
        "total": {"type": "integer", "minimum": 0},
        "link": {"type": "array", "items": {"type": "object", "required": ["relation", "url"]}},
        "entry": {
            "type": "array",
            "items": {"type": "object", "required": ["fullUrl", "resource", "search"]},
        },
    },
}
_CAPABILITY: Schema = {
    "type": "object",
    "required": ["resourceType", "fhirVersion", "rest"],
    "properties": {"resourceType": {"const": "CapabilityStatement"}, "fhirVersion": {"const": "4.0.1"}},
}
_WRITTEN = {"anyOf": [_RESOURCE, ref("OperationOutcome")]}
_FORBIDDEN = _outcome(
    "The token lacks the SMART scope this interaction needs, or the caller may not change it."
)
_UNKNOWN = _outcome("No such resource, or not visible to this caller (the same answer).")
_GONE = _outcome("The resource was deleted.")
_NOT_ACCEPTABLE = _outcome("Neither _format nor Accept names FHIR JSON or XML (answered in JSON).")
_STALE = _outcome("If-Match names a version that is not the current one.")

# view -> its answers (errors every view shares are added by _operation)
_ANSWERS: dict[str, dict[str, Schema]] = {
    "metadata": {"200": _answer(_CAPABILITY, "The CapabilityStatement, generated from the route table.")},
    "post_bundle": {
        "200": _answer(
            {"oneOf": [ref("ResponseBundle"), ref("OperationOutcome")]},
            "The response Bundle (batch, transaction) or the OperationOutcome of the exchange.",
        ),
        "202": _outcome("Held for review (no student link yet): the warning names the stored message."),
    },
    "post_import": {
        "200": _outcome("The outcome of the file; each problem names its line."),
        "202": _outcome("Held for review (no student link yet): the warning names the stored message."),
    },
    "create": {
        "201": _answer(
            _WRITTEN,
            "Created (mapped, or stored and held for its student link: the OperationOutcome warns): "
            "the resource, or by Prefer nothing or the OperationOutcome.",
        ),
        "200": _answer(_WRITTEN, "A conditional create matched one resource, or the record was not mapped."),
        "403": _FORBIDDEN,
        "404": FHIR_NOT_FOUND,
        "412": _outcome("If-None-Exist matched more than one resource."),
    },
    "search": {
        "200": _answer(_SEARCHSET, "What this caller may see; total counts only that."),
        "403": _FORBIDDEN,
        "404": FHIR_NOT_FOUND,
    },
    "read": {
        "200": _answer(_RESOURCE, "The current version."),
        "403": _FORBIDDEN,
        "404": _UNKNOWN,
        "410": _GONE,
    },
    "vread": {"200": _answer(_RESOURCE, "That version."), "403": _FORBIDDEN, "404": _UNKNOWN, "410": _GONE},
    "update": {
        "200": _answer(_WRITTEN, "Updated: the new version."),
        "403": _FORBIDDEN,
        "404": _UNKNOWN,
        "409": _outcome("The change conflicts with the resource's state (a Task's state machine)."),
        "410": _GONE,
        "412": _STALE,
    },
    "not_allowed": {"405": _outcome("Not supported by this server.")},
}
_ANSWERS["patch"] = _ANSWERS["update"]
_ANSWERS["search_post"] = _ANSWERS["search"]
_WITH_BODY = frozenset({"post_bundle", "post_import", "create", "update", "patch"})
_PUBLIC = frozenset({"metadata"})


def _path_of(rule: str) -> str:
    return "/fhir/r4" + re.sub(r"<([a-z_]+)>", r"{\1}", rule)


def _operation(route: Route) -> Schema:
    parameters = [_FORMAT] + [
        {"name": name, "in": "path", "required": True, "schema": TEXT}
        for name in re.findall(r"<([a-z_]+)>", route.rule)
    ]
    responses = {**dict(_ANSWERS[route.view]), "406": _NOT_ACCEPTABLE}
    if route.view == "patch":
        responses["415"] = _outcome("The body is neither a JSON Patch nor a JSON Merge Patch.")
    if route.view not in _PUBLIC:
        responses.update({k: v for k, v in _ERRORS.items() if k not in responses})
    operation: Schema = {
        "operationId": "fhir_" + route.endpoint,
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if route.view in _WITH_BODY:
        media = ("application/json-patch+json",) if route.view == "patch" else REQUEST_MEDIA
        operation["requestBody"] = {"required": True, "content": {m: {"schema": {}} for m in media}}
    if route.view == "search" and "POST" in route.methods:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        }
    return operation


def _paths() -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    for route in ROUTES:
        for method in route.methods:
            paths.setdefault(_path_of(route.rule), {})[method.lower()] = _operation(route)
    return paths


OPENAPI_PATHS: dict[str, Schema] = _paths()
