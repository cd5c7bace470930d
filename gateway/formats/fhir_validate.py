"""One FHIR R4 resource checked once, whatever the wire format it came in.

A resource becomes records (``fhir_derive.expand``) only when it has no problem; otherwise one
``RecordProblem`` lists every problem found, each with its location:

- ``resourceType`` missing, not an R4 resource type (an R5-only type is named as such), or not
  the type the request's URL names (``entity``);
- the R4 gate's verdict (``fhir_gate``: HL7's R4 4.0.1 definitions: unknown elements, JSON
  types with no coercion, cardinality, one ``value[x]``, required elements, HL7's regexes, real
  calendar dates, required code bindings). A resource is first asked ``is_valid`` of its
  type's compiled JSON Schema (``fhir_gate_schema``, Rust, a few microseconds); only a refused
  one is walked in Python to find each problem and its location. ``fhir.resources`` models are
  not run on the way in (``tests/test_fhir_gate_differential.py`` keeps the gate at least as
  strict as they are);
- elements R4 does not know but R5 has: the problem says the payload looks like R5;
- ``Attachment.data`` over the limit (decoded bytes; ``GATEWAY_FHIR_MAX_ATTACHMENT_BYTES``,
  5 MiB by default);
- ``urn:uuid:`` references left unresolved (a Bundle resolves its own before this check);
- the Gravity profile rules (``gravity_rules.check``).

Messages carry locations and rules, never the values (they may be PHI).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.core.limits import quick_tree_issues
from gateway.errors import Issue
from gateway.formats import fhir_derive, fhir_gate, fhir_gate_schema, gravity_rules
from gateway.formats.fhir_shape import is_resource_type
from gateway.formats.records import RecordProblem, SourceRecord, record

log = logging.getLogger(__name__)

ATTACHMENT_LIMIT_ENV = "GATEWAY_FHIR_MAX_ATTACHMENT_BYTES"
DEFAULT_ATTACHMENT_LIMIT = 5 * 1024 * 1024
R4_ADVICE = "this looks like FHIR R5; send R4 (4.0.1)"
URN_UUID = "urn:uuid:"
# base64Binary elements (Attachment.data, Binary.data, Signature.data): bounded by the attachment
# limit, not by the text limit of core.limits
BINARY_KEYS = frozenset({"data"})
_ATTACHMENT_KEYS = frozenset(
    {"id", "extension", "contentType", "language", "data", "url", "size", "hash", "title", "creation"}
)

Found = SourceRecord | RecordProblem


def attachment_limit() -> int:
    """Decoded bytes one ``Attachment.data`` may hold; read per payload, so tests can lower it."""
    value = os.environ.get(ATTACHMENT_LIMIT_ENV, "")
    return int(value) if value.isdigit() else DEFAULT_ATTACHMENT_LIMIT


def check_resource(
    doc: Any,
    where: str,
    *,
    raw: bytes | None = None,
    entity: str | None = None,
    limit: int | None = None,
) -> list[Found]:
    """Everything in one call: for payloads validated in this process."""
    issues = type_issues(doc, where, entity)
    if issues:
        return [RecordProblem(location=where, issues=issues)]
    issues = model_issues(doc["resourceType"], where, raw=raw, doc=doc)
    return finish(doc, where, issues, raw=raw, limit=limit)


def type_issues(doc: Any, where: str, entity: str | None = None) -> tuple[Issue, ...]:
    if not isinstance(doc, dict):
        return (Issue(path=where, message="expected a FHIR resource (a JSON object)"),)
    resource_type = doc.get("resourceType")
    path = f"{where}.resourceType"
    if not isinstance(resource_type, str) or not resource_type:
        return (Issue(path=path, message="missing; every resource names its resourceType"),)
    if not is_resource_type(resource_type):
        if _is_r5_resource_type(resource_type):
            return (Issue(path=path, message=f"'{resource_type}' is an R5 resource type; {R4_ADVICE}"),)
        return (Issue(path=path, message=f"'{resource_type}' is not an R4 resource type"),)
    # entity is a resource type only when a FHIR URL named one; other labels are the sender's own
    if entity and entity != resource_type and is_resource_type(entity):
        return (Issue(path=path, message=f"the URL names {entity}; send it to its own type's URL"),)
    return ()


def model_issues(
    resource_type: str, where: str, *, raw: bytes | None = None, doc: Any = None
) -> tuple[Issue, ...]:
    """The R4 gate's verdict on one resource, given it parsed or as received (a worker process
    gets the bytes); the name stays from when the R4B models gave it."""
    if doc is None:
        doc = orjson.loads(raw or b"null")
    if fhir_gate_schema.is_valid(doc):
        return ()
    findings = fhir_gate.check(doc)
    if not findings:
        # the schema and the walk read the same tables; a disagreement is a gate bug, and the
        # resource is refused rather than let through unchecked
        log.error("FHIR gate: the schema refused a %s the walk found no problem in", resource_type)
        return (Issue(path=where, message="does not meet FHIR R4 (the gate could not say where)"),)
    return _gate_issues(findings, resource_type, where)


Verdict = tuple[bool, tuple[Issue, ...]]  # (outside the edge limits, the problems found)


def verdicts_many(items: list[tuple[str, str, bytes]], docs: list[Any] | None = None) -> list[Verdict]:
    """Per (resourceType, location, bytes) triple, in order (a pool's task, or in process given the
    parsed ``docs``): the edge limits (``core.limits``), then, within them, the R4 gate. Both walk
    every element, so they run where the bytes are parsed a second time in parallel, not in the
    process that maps and stores."""
    found: list[Verdict] = []
    for n, (rtype, where, raw) in enumerate(items):
        doc = docs[n] if docs is not None else orjson.loads(raw)
        outside = quick_tree_issues(doc, where, binary_keys=BINARY_KEYS)
        found.append((True, tuple(outside)) if outside else (False, model_issues(rtype, where, doc=doc)))
    return found


def finish(
    doc: dict[str, Any],
    where: str,
    issues: tuple[Issue, ...],
    *,
    raw: bytes | None = None,
    limit: int | None = None,
) -> list[Found]:
    """The checks after the model's: attachments, references, profile rules; then records.
    Given the received bytes, walks that cannot find anything are skipped."""
    limit = attachment_limit() if limit is None else limit
    found = list(issues)
    # base64 takes 4 bytes per 3: a resource smaller than that cannot hold an oversized attachment
    if raw is None or len(raw) > limit * 4 // 3:
        found.extend(attachment_issues(doc, where, limit))
    if raw is None or URN_UUID.encode() in raw:
        found.extend(unresolved_references(doc, where))
    found.extend(gravity_rules.check(doc, where))
    if found:
        return [RecordProblem(location=where, issues=tuple(found))]
    return list(fhir_derive.expand(record(doc["resourceType"], where, doc)))


def attachment_issues(doc: Any, where: str, limit: int) -> Iterator[Issue]:
    for path, node in _walk(doc, where):
        data = node.get("data")
        if isinstance(data, str) and set(node) <= _ATTACHMENT_KEYS:
            decoded = len(data) * 3 // 4 - data[-2:].count("=")
            if decoded > limit:
                yield Issue(
                    path=f"{path}.data",
                    message=f"attachment of {decoded} bytes is over the {limit}-byte limit; "
                    "send a url to the document instead",
                )


def unresolved_references(doc: Any, where: str) -> Iterator[Issue]:
    for path, node in _walk(doc, where):
        reference = node.get("reference")
        if isinstance(reference, str) and reference.startswith(URN_UUID):
            yield Issue(
                path=f"{path}.reference",
                message="urn:uuid reference does not resolve to a fullUrl of this Bundle; "
                "send the referenced resource in the same Bundle or reference it as Type/id",
            )


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object under ``node`` with its FHIRPath-like location."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict | list):
                yield from _walk(value, f"{path}[{index}]")


def _gate_issues(findings: list[fhir_gate.Finding], resource_type: str, where: str) -> tuple[Issue, ...]:
    # Locations and kinds of problem only: the values may be PHI.
    issues = [Issue(path=where + _loc(f.loc), message=f.message) for f in findings]
    r5 = _r5_elements(resource_type, [f.loc for f in findings if f.unknown])
    if r5:
        issues.insert(0, Issue(path=where, message=f"{R4_ADVICE} (R5-only elements: {', '.join(r5)})"))
    return tuple(issues)


def _loc(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _r5_model(name: str) -> Any:
    from fhir.resources import get_fhir_model_class as r5_class  # the package's default is R5

    try:
        return r5_class(name)
    except (ValueError, KeyError):
        return None


def _is_r5_resource_type(name: str) -> bool:
    from fhir.resources.resource import Resource as R5Resource

    model = _r5_model(name)
    return model is not None and issubclass(model, R5Resource)


def _r5_elements(resource_type: str, locs: list[tuple[int | str, ...]]) -> list[str]:
    """Unknown top-level elements the R5 model of the same type has, and R5's CodeableReference
    shape (``{"concept": ...}``) where R4 has a CodeableConcept."""
    r5 = _r5_model(resource_type)
    r5_fields = {(f.alias or n) for n, f in r5.model_fields.items()} if r5 is not None else set()
    r5_fields.discard("fhir_comments")  # the package's own field in every model, no R5 element
    found = []
    for loc in locs:
        name = loc[-1]
        if (len(loc) == 1 and name in r5_fields) or name == "concept":
            found.append(f"{resource_type}{_loc(loc)}")
    return found
