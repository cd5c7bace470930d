"""The OpenAPI paths and schemas of the FHIR R4 endpoints (``fhir_api``), merged into the document
by ``openapi.build_openapi``. Every answer is FHIR JSON or XML: a success or an error alike."""

from __future__ import annotations

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


def _operation(operation_id: str, summary: str, responses: dict[str, Schema], **extra: object) -> Schema:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [_FORMAT, *extra.pop("parameters", [])],  # type: ignore[misc]
            "requestBody": {
                "required": True,
                "content": {media: {"schema": {}} for media in REQUEST_MEDIA},
            },
            "responses": {**responses, **_ERRORS},
        }
    }


OPENAPI_PATHS: dict[str, Schema] = {
    "/fhir/r4": _operation(
        "postFhirBundle",
        "A Bundle (collection, batch, transaction, searchset, document); batch and transaction are "
        "answered with their response Bundle.",
        {
            "200": _answer(
                {"oneOf": [ref("ResponseBundle"), ref("OperationOutcome")]},
                "The response Bundle (batch, transaction) or the OperationOutcome of the exchange.",
            ),
            "202": _outcome("Held for review (no student link yet): the warning names the stored message."),
        },
    ),
    "/fhir/r4/{resource_type}": _operation(
        "postFhirResource",
        "One resource of the type the URL names.",
        {
            "201": _outcome("Mapped into the plan."),
            "200": _outcome("Stored, deliberately not mapped or partly mapped."),
            "202": _outcome("Held for review (no student link yet): the warning names the stored message."),
            "404": FHIR_NOT_FOUND,
        },
        parameters=[
            {
                "name": "resource_type",
                "in": "path",
                "required": True,
                "description": "An R4 resourceType",
                "schema": TEXT,
            }
        ],
    ),
    "/fhir/r4/$import": _operation(
        "postFhirImport",
        "NDJSON, one resource per line (as FHIR Bulk Data exports), streamed.",
        {
            "200": _outcome("The outcome of the file; each problem names its line."),
            "202": _outcome("Held for review (no student link yet): the warning names the stored message."),
        },
    ),
}
