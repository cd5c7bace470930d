"""Writing served FHIR resources: create (conditional too), update and patch.

A partner's create or update goes the one road in (``ingest``: stored first, parsed, mapped,
decided, merged, audited) with the id fixed when the body is stored; the pipeline writes the
served version. A conditional create (``If-None-Exist``) searches first, as this caller sees:
one match is answered with it and nothing is created, several are a 412. An update names its
version with ``If-Match`` when the client wants the check (412 on a stale one); without it, it
applies to the current version. Only the sender may update what it sent; a referral Task is
updated by the organization it is addressed to (``fhir_referrals``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch

from gateway.core.fhir_query import parse_search
from gateway.errors import AccessDenied, Gone, InputInvalid, Issue, PreconditionFailed
from gateway.service.administration.partners import Principal
from gateway.service.exchange.inbound import Inbound, stage
from gateway.service.exchange.ingest import IngestSummary, process
from gateway.service.fhir import fhir_reads
from gateway.service.fhir.fhir_access import Judge, Reader
from gateway.service.fhir.fhir_reads import Found, not_found
from gateway.service.referrals import referral_tasks
from gateway.service.runtime import Runtime
from gateway.storage import fhir_store
from gateway.storage.tables import FhirResourceRow

LANDED = ("mapped", "partial", "held")
_ETAG = re.compile(r'^\s*(W/)?"?(\d+)"?\s*$')


@dataclass(frozen=True, kw_only=True)
class Written:
    """What a create or update did: the summary of its exchange and, when it landed, the resource."""

    summary: IngestSummary | None
    found: Found | None
    resource_id: str | None
    created: bool = False
    existing: bool = False  # a conditional create matched: nothing was written


@dataclass(frozen=True, kw_only=True)
class Body:
    """A request body as received: bytes, their wire format and content type."""

    payload: bytes
    format_name: str
    content_type: str | None


def create(
    rt: Runtime, principal: Principal, resource_type: str, body: Body, if_none_exist: str | None = None
) -> Written:
    if if_none_exist:
        match = _existing(rt, principal, resource_type, if_none_exist)
        if match is not None:
            return Written(summary=None, found=match, resource_id=str(match.document["id"]), existing=True)
    resource_id = str(uuid.uuid4())
    summary = _exchange(rt, principal, resource_type, resource_id, body)
    return Written(
        summary=summary,
        found=_landed(rt, resource_type, resource_id, summary),
        resource_id=resource_id,
        created=True,
    )


def _existing(rt: Runtime, principal: Principal, resource_type: str, query: str) -> Found | None:
    pairs = _query_pairs(query.removeprefix(f"{resource_type}?").lstrip("?"))
    if not pairs:
        raise InputInvalid(
            "If-None-Exist names no search",
            [Issue(path="If-None-Exist", message="e.g. identifier=system|value")],
        )
    parsed = parse_search(resource_type, pairs, strict=True)
    page = fhir_reads.search(rt, Reader.of(principal), parsed)
    if page.total > 1:
        raise PreconditionFailed(
            "the conditional create matches more than one resource",
            [Issue(path="If-None-Exist", message=f"{page.total} matches; make the criteria selective")],
        )
    if page.total == 0:
        return None
    document = page.matches[0] if page.matches else {}
    return Found(
        document=document,
        version_id=int(document.get("meta", {}).get("versionId", 1)),
        last_updated=str(document.get("meta", {}).get("lastUpdated", "")),
    )


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _landed(rt: Runtime, resource_type: str, resource_id: str, summary: IngestSummary) -> Found | None:
    if summary.status not in LANDED:
        return None
    with rt.sessions() as session:
        row = fhir_store.current(session, resource_type, resource_id)
        if row is None:
            return None
        return Found(
            document=row.document, version_id=row.version_id, last_updated=row.last_updated.isoformat()
        )


def version_of(if_match: str | None) -> int | None:
    """The version an ``If-Match`` names (``W/"3"``, ``"3"`` or ``3``), or None when absent."""
    if not if_match:
        return None
    found = _ETAG.match(if_match)
    if found is None:
        raise InputInvalid(
            "If-Match is not a version ETag", [Issue(path="If-Match", message='use W/"<versionId>"')]
        )
    return int(found.group(2))


def update(
    rt: Runtime,
    principal: Principal,
    resource_type: str,
    resource_id: str,
    document: dict[str, Any],
    body: Body,
    if_match: str | None,
) -> Written:
    expected = version_of(if_match)
    _check_body_id(document, resource_type, resource_id)
    row = _writable(rt, principal, resource_type, resource_id, expected)
    if row.delivery_id and row.source_org != principal.organization_id:
        found = referral_tasks.update_task(rt, principal, row.id, document, expected)
        return Written(summary=None, found=found, resource_id=resource_id)
    summary = _exchange(rt, principal, resource_type, resource_id, body)
    return Written(
        summary=summary, found=_landed(rt, resource_type, resource_id, summary), resource_id=resource_id
    )


def _exchange(
    rt: Runtime, principal: Principal, resource_type: str, resource_id: str, body: Body
) -> IngestSummary:
    """The body through the one road in, its id fixed when it is stored (a replay writes it again)."""
    message_id = stage(
        rt,
        Inbound(
            source_org=principal.organization_id,
            format_name=body.format_name,
            payload=body.payload,
            entity=resource_type,
            content_type=body.content_type,
            resource_id=resource_id,
        ),
    )
    return process(rt, message_id)


def patched(
    rt: Runtime, principal: Principal, resource_type: str, resource_id: str, patch: Any
) -> dict[str, Any]:
    """The current document with a patch applied (then updated like a PUT): an array is an RFC 6902
    JSON Patch, an object an RFC 7386 merge patch (``null`` removes an element)."""
    found = fhir_reads.read(rt, Reader.of(principal), resource_type, resource_id)
    current = {k: v for k, v in found.document.items() if k != "meta"}
    if isinstance(patch, dict):
        result: Any = merge_patch(current, patch)
    elif isinstance(patch, list):
        try:
            result = jsonpatch.apply_patch(current, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            where = "$"
            raise InputInvalid(
                "the JSON Patch cannot be applied", [Issue(path=where, message=type(exc).__name__)]
            ) from exc
    else:
        raise InputInvalid(
            "a patch is an array of operations or an object to merge",
            [Issue(path="$", message="send [{op, path, ...}] or {element: value}")],
        )
    if not isinstance(result, dict):
        raise InputInvalid(
            "the patched resource is not an object", [Issue(path="$", message="patch fields, not the root")]
        )
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge member by member, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def _check_body_id(document: dict[str, Any], resource_type: str, resource_id: str) -> None:
    issues = []
    if document.get("resourceType") != resource_type:
        issues.append(Issue(path="resourceType", message=f"must be {resource_type}"))
    if document.get("id") != resource_id:
        issues.append(Issue(path="id", message=f"must be the id in the URL ({resource_id})"))
    if issues:
        raise InputInvalid("the body does not name the resource it updates", issues)


def _writable(
    rt: Runtime, principal: Principal, resource_type: str, resource_id: str, expected: int | None
) -> FhirResourceRow:
    """The current row the caller may change: its sender's, or a referral Task addressed to it.
    One the caller may not even see is a 404, as a read; one it sees but may not change a 403."""
    with rt.sessions() as session:
        row = fhir_store.current(session, resource_type, resource_id)
        if row is None:
            raise not_found(resource_type)
        mine = row.source_org == principal.organization_id
        addressed = row.delivery_id is not None and row.owner_org == principal.organization_id
        if not mine and not (addressed and resource_type == "Task"):
            seen = Judge(session=session, rt=rt, reader=Reader.of(principal)).sees(fhir_store.labels_of(row))
            if not seen and not addressed:
                raise not_found(resource_type)
            raise AccessDenied(
                "only the sender of a resource, or the agency a referral Task is addressed to, may change it",
                [Issue(path="id", message="send your own resource, or update the Task you own")],
            )
        session.expunge(row)
    if row.deleted_at is not None:
        raise Gone(f"{resource_type}/{resource_id} was deleted", [Issue(path="id", message="deleted")])
    if expected is not None and expected != row.version_id:
        raise PreconditionFailed(
            f"{resource_type}/{resource_id} is at version {row.version_id}",
            [Issue(path="If-Match", message="read the resource again and apply the change to it")],
        )
    return row
