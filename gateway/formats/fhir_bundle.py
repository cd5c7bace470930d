"""FHIR R4 Bundles in: each entry's resource becomes records, checked like a single resource.

- Types: ``collection``, ``batch``, ``transaction``, ``searchset`` (its ``outcome`` entries, the
  server's OperationOutcomes, are not records) and ``document``. Other types (``history``,
  ``*-response``, ``subscription-notification``) are refused whole: they answer requests, they
  are not data sent to the gateway.
- References: an entry whose ``fullUrl`` is ``urn:uuid:<uuid>`` is referred to as
  ``<resourceType>/<id>``; every ``reference`` to that urn in the Bundle is rewritten so in the
  record data. An entry with such a fullUrl and no ``id`` (a transaction ``POST``) gets the uuid
  as its id, as a FHIR server would assign one. A ``urn:uuid`` reference with no such entry is
  a problem at its location.
- batch / transaction: ``request.method`` POST or PUT (its ``url`` must name the resource's type,
  and for PUT its id). DELETE, PATCH, GET and HEAD are problems ("not supported": the gateway
  takes data in; retractions go through ``spgw`` / the retraction service).
- transaction is all or nothing: one problem in any entry refuses the whole Bundle (nothing is
  written), with every entry's problems listed. batch and the others go entry by entry.
- The envelope (Bundle without its entries' resources) is validated with the R4B Bundle model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from gateway.errors import InputInvalid, Issue
from gateway.formats.fhir_validate import URN_UUID, Found, check_resource, model_issues
from gateway.formats.records import RecordProblem

log = logging.getLogger(__name__)

BUNDLE_TYPES = ("collection", "batch", "transaction", "searchset", "document")
REQUEST_TYPES = ("batch", "transaction")
WRITE_METHODS = ("POST", "PUT")


def bundle_records(doc: dict[str, Any], entity: str | None = None) -> list[Found]:
    bundle_type = doc.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise InputInvalid(
            "unsupported Bundle type",
            [Issue(path="Bundle.type", message=f"expected one of {', '.join(BUNDLE_TYPES)}")],
        )
    _check_envelope(doc)
    entries = doc.get("entry") or []
    targets, issues = _urn_targets(entries)
    found: list[Found] = []
    if issues:
        found.append(RecordProblem(location="Bundle.entry", issues=tuple(issues)))
    for index, entry in enumerate(entries):
        found.extend(_entry(entry, index, bundle_type, targets, entity))
    if bundle_type == "transaction":
        _all_or_nothing(found)
    return found


def _check_envelope(doc: dict[str, Any]) -> None:
    envelope = {
        **doc,
        "entry": [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
            for e in doc.get("entry") or []
        ],
    }
    if not doc.get("entry"):
        envelope.pop("entry")
    issues = model_issues("Bundle", "Bundle", doc=envelope)
    if issues:
        raise InputInvalid("the Bundle itself does not meet FHIR R4", issues)


def _urn_targets(entries: list[Any]) -> tuple[dict[str, str], list[Issue]]:
    """fullUrl ``urn:uuid:...`` -> ``Type/id``; an id-less entry takes the uuid as its id."""
    targets: dict[str, str] = {}
    issues: list[Issue] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not (isinstance(full_url, str) and full_url.startswith(URN_UUID) and isinstance(resource, dict)):
            continue
        if full_url in targets:
            issues.append(Issue(path=f"Bundle.entry[{index}].fullUrl", message="fullUrl used twice"))
            continue
        if "id" not in resource:
            resource["id"] = full_url.removeprefix(URN_UUID)
        targets[full_url] = f"{resource.get('resourceType')}/{resource['id']}"
    return targets, issues


def _entry(
    entry: Any, index: int, bundle_type: str, targets: dict[str, str], entity: str | None
) -> list[Found]:
    where = f"Bundle.entry[{index}].resource"
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        return [RecordProblem(location=where, issues=(Issue(path=where, message="entry has no resource"),))]
    if bundle_type == "searchset" and (entry.get("search") or {}).get("mode") == "outcome":
        log.info("searchset entry %d is the server's OperationOutcome: not a record", index)
        return []
    if bundle_type in REQUEST_TYPES:
        problems = tuple(_request_issues(entry, index, resource))
        if problems:
            return [RecordProblem(location=where, issues=problems)]
    return check_resource(rewrite_references(resource, targets), where, entity=entity)


def _request_issues(entry: dict[str, Any], index: int, resource: dict[str, Any]) -> Iterator[Issue]:
    path = f"Bundle.entry[{index}].request"
    request = entry.get("request")
    if not isinstance(request, dict):
        yield Issue(path=path, message="a batch or transaction entry needs a request (method and url)")
        return
    method, url = request.get("method"), str(request.get("url") or "")
    if method not in WRITE_METHODS:
        yield Issue(
            path=f"{path}.method",
            message=f"{method} is not supported: the gateway takes resources in with POST or PUT; "
            "ask the gateway's operators to retract records",
        )
        return
    kind, _, ident = url.split("?")[0].strip("/").partition("/")
    if kind != resource.get("resourceType"):
        yield Issue(path=f"{path}.url", message="must start with the entry resource's type")
    elif method == "PUT" and ident != resource.get("id"):
        yield Issue(path=f"{path}.url", message="a PUT url must be <resourceType>/<the resource's id>")


def rewrite_references(node: Any, targets: dict[str, str]) -> Any:
    """A copy of ``node`` whose ``reference`` s to urn:uuid fullUrls read ``Type/id``; unknown
    urns are left for ``check_resource`` to report with their location."""
    if isinstance(node, dict):
        out = {k: rewrite_references(v, targets) for k, v in node.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in targets:
            out["reference"] = targets[reference]
        return out
    if isinstance(node, list):
        return [rewrite_references(v, targets) for v in node]
    return node


def _all_or_nothing(found: list[Found]) -> None:
    problems = [f for f in found if isinstance(f, RecordProblem)]
    if problems:
        issues = [i for p in problems for i in p.issues]
        raise InputInvalid(
            f"transaction refused: {len(problems)} entries have problems and a transaction is all "
            "or nothing; fix them (or send a batch) and send it again",
            issues,
        )
