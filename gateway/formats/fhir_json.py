"""FHIR R4 JSON: a single resource, a Bundle (collection, batch, transaction) or NDJSON.

Each resource is validated once with the ``fhir.resources`` R4B models (the package's
default import is R5). Records keep the received JSON, not a re-serialisation.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from gateway.errors import InputInvalid, Issue
from gateway.formats.records import (
    ParseResult,
    RecordProblem,
    SourceRecord,
    load_json,
    record,
)

_BUNDLE_TYPES = {
    "collection",
    "batch",
    "transaction",
    "searchset",
    "batch-response",
    "transaction-response",
}


def parse(payload: bytes, entity: str | None) -> ParseResult:
    del entity  # FHIR resources name their own type
    stripped = payload.lstrip()
    if stripped[:1] == b"{" and b"\n{" in stripped.rstrip():
        return _parse_ndjson(payload)
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise InputInvalid(
            "FHIR JSON must be a resource object",
            [Issue(path="$", message="expected an object")],
        )
    if doc.get("resourceType") == "Bundle":
        return _parse_bundle(doc)
    return _collect([_resource(doc, "$")])


def _parse_ndjson(payload: bytes) -> ParseResult:
    found: list[SourceRecord | RecordProblem] = []
    for number, line in enumerate(payload.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            found.append(_resource(load_json(line, where), where))
        except InputInvalid as exc:
            found.append(RecordProblem(location=where, issues=exc.issues))
    return _collect(found)


def _parse_bundle(doc: dict[str, Any]) -> ParseResult:
    if doc.get("type") not in _BUNDLE_TYPES:
        raise InputInvalid(
            "unsupported Bundle type",
            [
                Issue(
                    path="Bundle.type",
                    message=f"expected one of {', '.join(sorted(_BUNDLE_TYPES))}",
                )
            ],
        )
    found: list[SourceRecord | RecordProblem] = []
    for index, entry in enumerate(doc.get("entry", [])):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"Bundle.entry[{index}].resource"
        found.append(_resource(resource, where) if isinstance(resource, dict) else _missing(where))
    return _collect(found)


def _missing(where: str) -> RecordProblem:
    return RecordProblem(location=where, issues=(Issue(path=where, message="entry has no resource"),))


def _resource(doc: Any, where: str) -> SourceRecord | RecordProblem:
    resource_type = doc.get("resourceType") if isinstance(doc, dict) else None
    if not isinstance(resource_type, str):
        return RecordProblem(
            location=where,
            issues=(Issue(path=f"{where}.resourceType", message="missing"),),
        )
    try:
        model = get_fhir_model_class(resource_type)
    except KeyError:
        return RecordProblem(
            location=where,
            issues=(
                Issue(
                    path=f"{where}.resourceType",
                    message=f"'{resource_type}' is not an R4 resource type",
                ),
            ),
        )
    try:
        model.model_validate(doc)
    except ValidationError as exc:
        return RecordProblem(location=where, issues=tuple(_issues(exc, where)))
    return record(resource_type, where, doc)


def _issues(exc: ValidationError, where: str) -> list[Issue]:
    # Only the location and pydantic's message: the offending input value may be PHI.
    return [
        Issue(
            path=where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]),
            message=err["msg"],
        )
        for err in exc.errors(include_input=False, include_url=False)
    ]


def _collect(found: list[SourceRecord | RecordProblem]) -> ParseResult:
    return ParseResult(
        records=tuple(f for f in found if isinstance(f, SourceRecord)),
        problems=tuple(f for f in found if isinstance(f, RecordProblem)),
    )
