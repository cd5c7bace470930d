"""Ed-Fi ODS/API resource JSON, as POSTed to ``/data/v3/ed-fi/{resource}``: one resource
object or an array of them. The resource name comes with the request, as in the Ed-Fi API."""

from __future__ import annotations

from gateway.errors import InputInvalid, Issue
from gateway.formats.records import ParseResult, RecordProblem, load_json, record


def parse(payload: bytes, entity: str | None) -> ParseResult:
    if not entity:
        raise InputInvalid(
            "Ed-Fi JSON needs its resource name",
            [
                Issue(
                    path="entity",
                    message="name the resource, e.g. 'students' or 'studentSchoolAssociations'",
                )
            ],
        )
    doc = load_json(payload)
    items = doc if isinstance(doc, list) else [doc]
    records, problems = [], []
    for index, item in enumerate(items):
        where = f"$[{index}]" if isinstance(doc, list) else "$"
        if isinstance(item, dict) and item:
            records.append(record(entity, where, item))
        else:
            problems.append(
                RecordProblem(
                    location=where,
                    issues=(Issue(path=where, message="expected a non-empty JSON object"),),
                )
            )
    return ParseResult(records=tuple(records), problems=tuple(problems))
