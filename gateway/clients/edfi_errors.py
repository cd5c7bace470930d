"""Turning an Ed-Fi ODS/API refusal into one clear ``UpstreamFailed``.

Two body shapes exist: ODS/API 5.x-7.1 answer ``{"message": "..."}``; 7.2+ (and the Data
Management Service) answer RFC 9457 problem details with ``type``, ``title``, ``detail``,
``correlationId``, ``validationErrors`` ({json path: [messages]}) and ``errors`` ([messages]).
The token endpoint answers OAuth's ``{"error", "error_description"}``.
The error says what failed (status, problem type), where (method and URL path, never the query,
which can carry natural-key values) and what to do. Server texts are kept short; the gateway
only reads from the ODS/API, so they describe the request, not records.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway.errors import Issue, UpstreamFailed

_MAX_TEXT = 200

_REMEDIES = {
    400: "the ODS/API refused the request parameters; check the paging limits and change versions it accepts",
    401: "check the client id and secret the ODS/API issued for this source (they may be revoked or expired)",
    403: "ask the ODS/API host to grant this client's claim set and education organizations for the resource",
    404: "the ODS/API does not offer this resource: check its data standard version or choose --resource",
    405: "the ODS/API does not allow this operation here (a read-only or snapshot endpoint)",
    429: "the ODS/API is throttling this client; try again later or with fewer parallel pulls",
}
_SERVER_REMEDY = (
    "the ODS/API is failing; try again later. The sync watermark was not moved, so the next run "
    "pulls the same window again and nothing is lost"
)


def where(method: str, url: str) -> str:
    """The method and URL path only: the query can carry student identifiers."""
    return f"{method} {urlsplit(url).path or '/'}"


def _short(text: object) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"


def remedy_for(status: int) -> str:
    if status >= 500:
        return _SERVER_REMEDY
    return _REMEDIES.get(status, "check the request against the ODS/API's OpenAPI metadata")


def body_issues(body: bytes, location: str) -> list[Issue]:
    """What the error body says, as issues: problem details or ``{"message"}``; anything else ignored."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    if "type" in doc or "detail" in doc or "validationErrors" in doc:
        return _problem_issues(doc, location)
    if "message" in doc:
        return [Issue(path=location, message=_short(doc["message"]))]
    if isinstance(doc.get("error"), str):  # the OAuth token endpoint's own shape (RFC 6749 5.2)
        described = f": {_short(doc['error_description'])}" if doc.get("error_description") else ""
        return [Issue(path=location, message=f"{_short(doc['error'])}{described}")]
    return []


def _problem_issues(doc: dict[str, Any], location: str) -> list[Issue]:
    head = " ".join(
        part
        for part in (
            f"[{doc['type']}]" if doc.get("type") else "",
            _short(doc.get("detail") or doc.get("title") or ""),
            f"(correlation id {_short(doc['correlationId'])})" if doc.get("correlationId") else "",
        )
        if part
    )
    issues = [Issue(path=location, message=head)] if head else []
    validation = doc.get("validationErrors")
    if isinstance(validation, dict):
        for field_path, messages in sorted(validation.items()):
            texts = messages if isinstance(messages, list) else [messages]
            issues.extend(Issue(path=str(field_path), message=_short(m)) for m in texts)
    errors = doc.get("errors")
    if isinstance(errors, list):
        issues.extend(Issue(path=location, message=_short(m)) for m in errors)
    return issues


def answer_error(method: str, url: str, status: int, body: bytes, attempts: int = 1) -> UpstreamFailed:
    location = where(method, url)
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    issues = body_issues(body, location)
    issues.append(Issue(path=location, message=f"what to do: {remedy_for(status)}"))
    return UpstreamFailed(f"Ed-Fi ODS/API answered {status} to {location}{tried}", issues)


def refused(method: str, url: str, response: requests.Response, attempts: int = 1) -> UpstreamFailed:
    """The error for a non-success answer; the response is closed so its connection is let go."""
    body = response.content
    response.close()
    return answer_error(method, url, response.status_code, body, attempts)


def network_error(method: str, url: str, problem: str, attempts: int) -> UpstreamFailed:
    location = where(method, url)
    return UpstreamFailed(
        f"Ed-Fi ODS/API could not be reached for {location} after {attempts} attempts ({problem})",
        [Issue(path=location, message="what to do: check --base-url and that the server is reachable")],
    )


def shape_error(url: str, expected: str, remedy: str) -> UpstreamFailed:
    location = where("GET", url)
    return UpstreamFailed(
        f"Ed-Fi ODS/API answer to {location} is not {expected}",
        [Issue(path=location, message=f"what to do: {remedy}")],
    )
