"""FHIR R4 answers to an exchange: OperationOutcome and batch/transaction response Bundles, built
from a stored message's outcome (``IngestSummary.to_dict()``), as plain FHIR JSON dicts.

Every problem is an ``issue`` with its location (``location``; also ``expression`` when the
location is a FHIRPath, e.g. ``Bundle.entry[2].resource.status``, not ``line 17``). A held
record is a ``warning`` that names the stored message, so the sender can follow up; the last
issue is always ``information`` with the message id and the counts.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.core.limits import printable

ERROR, WARNING, INFORMATION = "error", "warning", "information"
# the gateway's error codes -> the FHIR IssueType
ISSUE_TYPES = {
    "input_invalid": "invalid",
    "payload_too_large": "too-long",
    "unsupported_format": "not-supported",
    "authentication_failed": "login",
    "access_denied": "forbidden",
    "not_found": "not-found",
    "method_not_allowed": "not-supported",
    "conflict": "conflict",
    "gone": "deleted",
    "not_acceptable": "not-supported",
    "precondition_failed": "conflict",
    "insufficient_scope": "forbidden",
    "unsupported_media_type": "not-supported",
    "mapping_failed": "processing",
}
_FHIRPATH = re.compile(r"[A-Z][A-Za-z]*(\[[0-9]+\]|\.[A-Za-z_][A-Za-z0-9_]*)*")
_ENTRY = re.compile(r"Bundle\.entry\[([0-9]+)\]")


def issue(
    severity: str, code: str, diagnostics: str, where: str | None = None, root: str | None = None
) -> dict[str, Any]:
    """``root``: the resource type a ``$`` location stands for (``$.birthDate`` is ``Patient.birthDate``).

    Texts may quote what the sender sent (a key, a URL segment): characters XML cannot carry are
    replaced, so an answer in FHIR XML is always well-formed."""
    found: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": printable(diagnostics)}
    if where:
        where = printable(where)
        found["location"] = [where]
        expression = root + where[1:] if root and where.startswith("$") else where
        if _FHIRPATH.fullmatch(expression):
            found["expression"] = [expression]
    return found


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": issues or [issue(INFORMATION, "informational", "ok")],
    }


def error_outcome(
    code: str, message: str, issues: list[dict[str, str]], root: str | None = None
) -> dict[str, Any]:
    """A refused request or payload (the gateway's error shape as an OperationOutcome)."""
    kind = ISSUE_TYPES.get(code, "exception")
    found = [issue(ERROR, kind, f"{message}: {i['message']}", i["path"], root) for i in issues]
    return operation_outcome(found or [issue(ERROR, kind, message)])


def summary_outcome(summary: dict[str, Any], root: str | None = None) -> dict[str, Any]:
    """The outcome of one stored message: its whole-payload error or its records' problems."""
    message_id = summary["messageId"]
    error = summary.get("error")
    if error is not None:
        found = error_outcome(error["code"], error["message"], error["issues"], root)["issue"]
    else:
        found = [i for rec in summary.get("records", []) for i in record_issues(rec, message_id, root)]
    counts = ", ".join(
        f"{summary.get(k, 0)} {k}" for k in ("accepted", "held", "rejected", "failed", "ignored")
    )
    found.append(issue(INFORMATION, "informational", f"message {message_id}: {summary['status']} ({counts})"))
    return operation_outcome(found)


def record_issues(rec: dict[str, Any], message_id: str, root: str | None = None) -> list[dict[str, Any]]:
    status, where = rec["status"], rec["location"]
    if status == "held":
        text = (
            f"held for review, not lost: {rec['reason']}; stored as message {message_id}: link the patient "
            "to a student (an identifier the district knows), then the message can be replayed"
        )
        return [issue(WARNING, "processing", text, where, root)]
    if status == "ignored":
        return [issue(INFORMATION, "informational", f"not mapped: {rec['reason']}", where, root)]
    kind = "processing" if status == "failed" else "invalid"
    issues = rec.get("issues") or [{"path": where, "message": rec["reason"]}]
    return [issue(ERROR, kind, i["message"], i["path"], root) for i in issues]


def response_bundle(
    summary: dict[str, Any], entries: list[dict[str, Any]], bundle_type: str
) -> dict[str, Any]:
    """``batch-response`` / ``transaction-response``: one entry per request entry, in order."""
    by_entry: dict[int, list[dict[str, Any]]] = {}
    for rec in summary.get("records", []):
        match = _ENTRY.match(rec["location"])
        if match:
            by_entry.setdefault(int(match.group(1)), []).append(rec)
    answers = [
        _entry_response(summary["messageId"], entry, by_entry.get(i, [])) for i, entry in enumerate(entries)
    ]
    return {"resourceType": "Bundle", "type": f"{bundle_type}-response", "entry": answers}


def _entry_response(message_id: str, entry: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = {r["status"] for r in records}
    if statuses & {"rejected", "failed"}:
        status = "422 Unprocessable Entity" if "rejected" in statuses else "500 Internal Server Error"
    elif "held" in statuses:
        status = "202 Accepted"
    elif "ignored" in statuses:
        status = "200 OK"
    else:
        resource = entry.get("resource") or {}
        # an id-less entry with a urn:uuid fullUrl was given the uuid as its id (fhir_bundle)
        ident = resource.get("id") or str(entry.get("fullUrl") or "").removeprefix("urn:uuid:")
        answer: dict[str, Any] = {"status": "201 Created"}
        if resource.get("resourceType") and ident and "/" not in ident:
            answer["location"] = f"{resource['resourceType']}/{ident}"
        return {"response": answer}
    found = [i for r in records for i in record_issues(r, message_id)]
    return {"response": {"status": status, "outcome": operation_outcome(found)}}
