"""FHIR search parameters the server supports, and the index values of a resource.

One table (``SEARCH_PARAMETERS``) says, per resource type, which parameters exist, their FHIR
type and where in the resource their values are: the index is written from it, searches are
parsed against it and the CapabilityStatement lists it. Values are normalised the way a search
compares them: tokens as ``system|code`` and ``code`` (lower-cased codes are not folded: FHIR
codes are case-sensitive), references as ``Type/id`` (an absolute URL is cut to its last two
segments), dates as ISO text of the element's own precision, strings lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

TOKEN, REFERENCE, DATE, STRING = "token", "reference", "date", "string"


@dataclass(frozen=True, kw_only=True)
class SearchParameter:
    name: str
    type: str
    paths: tuple[str, ...]  # dotted element paths; a list anywhere on the way is walked
    target: str | None = None  # the reference's type when a bare id is searched
    documentation: str = ""


def _p(name: str, kind: str, *paths: str, target: str | None = None, doc: str = "") -> SearchParameter:
    return SearchParameter(name=name, type=kind, paths=paths, target=target, documentation=doc)


_PATIENT = _p("patient", REFERENCE, "subject", target="Patient", doc="the patient the resource is about")
_SUBJECT = _p("subject", REFERENCE, "subject", target="Patient", doc="the subject of the resource")
_IDENTIFIER = _p("identifier", TOKEN, "identifier", doc="a business identifier (system|value)")

SEARCH_PARAMETERS: dict[str, tuple[SearchParameter, ...]] = {
    "Patient": (_IDENTIFIER, _p("birthdate", DATE, "birthDate"), _p("family", STRING, "name.family")),
    "Observation": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("category", TOKEN, "category"),
        _p("code", TOKEN, "code"),
        _p("date", DATE, "effectiveDateTime", "effectivePeriod.start", "issued"),
        _p("status", TOKEN, "status"),
    ),
    "Condition": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("category", TOKEN, "category"),
        _p("code", TOKEN, "code"),
        _p("clinical-status", TOKEN, "clinicalStatus"),
    ),
    "ServiceRequest": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("performer", REFERENCE, "performer", target="Organization"),
        _p("requester", REFERENCE, "requester", target="Organization"),
        _p("status", TOKEN, "status"),
        _p("category", TOKEN, "category"),
        _p("code", TOKEN, "code"),
    ),
    "Task": (
        _p("patient", REFERENCE, "for", target="Patient", doc="the patient the task is for"),
        _IDENTIFIER,
        _p("owner", REFERENCE, "owner", target="Organization"),
        _p("requester", REFERENCE, "requester", target="Organization"),
        _p("status", TOKEN, "status"),
        _p("business-status", TOKEN, "businessStatus"),
        _p("focus", REFERENCE, "focus", target="ServiceRequest"),
        _p("code", TOKEN, "code"),
    ),
    "Consent": (
        _p("patient", REFERENCE, "patient", target="Patient"),
        _IDENTIFIER,
        _p("status", TOKEN, "status"),
        _p("category", TOKEN, "category"),
    ),
    "Procedure": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("code", TOKEN, "code"),
        _p("status", TOKEN, "status"),
        _p("based-on", REFERENCE, "basedOn", target="ServiceRequest"),
    ),
    "Goal": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("lifecycle-status", TOKEN, "lifecycleStatus"),
        _p("category", TOKEN, "category"),
    ),
    "QuestionnaireResponse": (
        _PATIENT,
        _SUBJECT,
        _IDENTIFIER,
        _p("status", TOKEN, "status"),
        _p("authored", DATE, "authored"),
    ),
    "RelatedPerson": (_p("patient", REFERENCE, "patient", target="Patient"), _IDENTIFIER),
}


def parameters_of(resource_type: str) -> dict[str, SearchParameter]:
    return {p.name: p for p in SEARCH_PARAMETERS.get(resource_type, ())}


# A relative reference as an element's value, read off the resource's compact JSON (orjson writes
# no whitespace; a quote inside a string is always escaped, so only a "reference" key matches):
# a C-speed scan instead of walking every element in Python.
_REFERENCE = re.compile(rb'"reference":"([A-Z][A-Za-z]+)/([A-Za-z0-9.\-]{1,64})"')


def relative_references(resource: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every (type, id) the resource names by a relative reference (``Patient/123``)."""
    return references_in(orjson.dumps(resource))


def references_in(*texts: bytes) -> tuple[tuple[str, str], ...]:
    """``relative_references`` of the parts of a resource, each its compact JSON (orjson's)."""
    found = {(m.group(1).decode(), m.group(2).decode()) for text in texts for m in _REFERENCE.finditer(text)}
    return tuple(sorted(found))


def tokens_of(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (parameter, value) the resource is found by."""
    found: set[tuple[str, str]] = set()
    for name, kind, parts in _INDEXED.get(str(resource.get("resourceType")), ()):
        for value in _at(resource, parts):
            found.update((name, v) for v in _values(kind, value))
    return sorted(found)


# Per type, each parameter's (name, type, path split once): the index is written for every
# resource that lands, and splitting the same paths again was a tenth of its cost.
_INDEXED: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    resource_type: tuple((p.name, p.type, tuple(path.split("."))) for p in parameters for path in p.paths)
    for resource_type, parameters in SEARCH_PARAMETERS.items()
}


def _at(resource: Mapping[str, Any], parts: tuple[str, ...]) -> list[Any]:
    """The values at a dotted path, a list anywhere on the way walked, breadth first per step."""
    nodes: list[Any] = [resource]
    for part in parts:
        found: list[Any] = []
        for node in nodes:
            value = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(value, list):
                found.extend(_flat(value))
            elif value is not None:
                found.append(value)
        if not found:
            return found
        nodes = found
    return [node for node in nodes if node is not None]


def _flat(nodes: list[Any]) -> Iterator[Any]:
    for node in nodes:
        if isinstance(node, list):
            yield from _flat(node)
        else:
            yield node


def _values(kind: str, value: Any) -> list[str]:
    if kind == TOKEN:
        return _token_values(value)
    if kind == REFERENCE:
        return _reference_values(value)
    if isinstance(value, str) and kind in (DATE, STRING):
        return [value] if kind == DATE else [value.lower()]
    return []


def _token_values(value: Any) -> list[str]:
    if isinstance(value, str):  # a code
        return [value]
    if not isinstance(value, Mapping):
        return []
    if "coding" in value:  # a CodeableConcept
        return [token for coding in value.get("coding") or [] for token in _token_values(coding)]
    code = value.get("code", value.get("value"))  # a Coding, or an Identifier
    if not isinstance(code, str):
        return []
    system = value.get("system")
    return [code, f"{system}|{code}" if isinstance(system, str) else f"|{code}"]


def _reference_values(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    found: list[str] = []
    reference = value.get("reference")
    if isinstance(reference, str) and reference:
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            found.append(f"{parts[-2]}/{parts[-1]}")
    identifier = value.get("identifier")
    if isinstance(identifier, Mapping):
        found.extend(f"identifier:{token}" for token in _token_values(identifier) if "|" in token)
    return found


def reference_value(raw: str, parameter: SearchParameter) -> str:
    """A searched reference as indexed: ``Type/id`` (a bare id takes the parameter's target)."""
    parts = raw.rstrip("/").split("/")
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return f"{parameter.target}/{raw}" if parameter.target else raw
