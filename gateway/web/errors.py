"""One JSON error shape for every answer that is not a success.

``GatewayError`` renders itself; werkzeug's HTTP errors (unknown route, wrong method, body too
large) and unexpected exceptions are rendered in the same shape, so a client needs one parser.
Nothing from the request body reaches a log line or an error message: bodies hold PHI.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from gateway.core.limits import printable
from gateway.errors import GatewayError
from gateway.web.request_log import request_id

log = logging.getLogger(__name__)

# Codes for werkzeug's own errors, by HTTP status; the gateway's codes where they mean the same.
HTTP_CODES = {
    400: "input_invalid",
    401: "authentication_failed",
    403: "access_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_format",
}
OTHER_HTTP_CODE = "http_error"
TOKEN_ENDPOINT = "auth.token"


def _gateway_error_classes() -> list[type[GatewayError]]:
    found, pending = [GatewayError], list(GatewayError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def status_for_code(code: str) -> int:
    """The HTTP status of a stored error, known only by its code (e.g. in a message outcome)."""
    statuses = {cls.code: cls.status for cls in _gateway_error_classes()}
    return statuses.get(code, 500)


def error_codes() -> list[str]:
    """Every code an error body may carry; the OpenAPI document lists them as an enum."""
    codes = {cls.code for cls in _gateway_error_classes()} | set(HTTP_CODES.values()) | {OTHER_HTTP_CODE}
    return sorted(codes)


def render_error(
    status: int, *, code: str, message: str, issues: list[dict[str, str]], **extra: Any
) -> Response:
    """The one error body; ``extra`` keys (e.g. ``messageId``) go inside the error object. Texts
    may quote what the sender sent (a key, a URL segment): control characters are replaced."""
    shown_issues = [{k: printable(v) for k, v in issue.items()} for issue in issues]
    body = {"code": code, "message": printable(message), "issues": shown_issues, **extra}
    rid = request_id()
    if rid is not None:  # the id a caller quotes to an operator, who finds the request's log line
        body["requestId"] = rid
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = _challenge()
    if status == 403 and code == "insufficient_scope":
        response.headers["WWW-Authenticate"] = 'Bearer realm="spgw", error="insufficient_scope"'
    return response


def error_response(error: GatewayError, **extra: Any) -> Response:
    if error.status >= 500:
        log.error("%s in %s %s", error.code, request.method, _route())
    return render_error(error.status, **error.to_dict()["error"], **extra)


def _challenge() -> str:
    # RFC 6749 5.2: the token endpoint challenges for client credentials (Basic); the API for a
    # bearer token (RFC 6750 3.1), saying "invalid_token" only when one was presented.
    if request.endpoint == TOKEN_ENDPOINT:
        return 'Basic realm="spgw"'
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return 'Bearer realm="spgw", error="invalid_token"'
    return 'Bearer realm="spgw"'


BEARER_PREFIXES = ("/api/v1/", "/fhir/r4")


def add_bearer_challenge(response: WerkzeugResponse) -> WerkzeugResponse:
    """Every 401 under ``/api/v1`` and ``/fhir/r4`` carries the Bearer challenge (RFC 6750 3),
    whichever blueprint rendered it (the FHIR ones answer OperationOutcomes of their own)."""
    if response.status_code == 401 and request.path.startswith(BEARER_PREFIXES):
        response.headers["WWW-Authenticate"] = _challenge()
    return response


def _http_error(exc: HTTPException) -> Response | WerkzeugResponse:
    if exc.code is None or exc.code < 400:
        return exc.get_response()  # routing redirects (308) are answers, not errors
    response = render_error(
        exc.code,
        code=HTTP_CODES.get(exc.code, OTHER_HTTP_CODE),
        message=exc.description or exc.name,
        issues=_http_issues(exc),
    )
    allow = dict(exc.get_headers()).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


def _http_issues(exc: HTTPException) -> list[dict[str, str]]:
    if exc.code == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or ()))
        return [{"path": "method", "message": f"{request.method} is not allowed here; use {allowed}"}]
    if exc.code == 404:
        return [{"path": "url", "message": "see /openapi.json for the routes this gateway serves"}]
    return []


def _route() -> str:
    # The route template, never the concrete path (it may carry a student identifier) nor the body.
    return request.url_rule.rule if request.url_rule is not None else "(no route)"


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, _route())
    return render_error(
        500,
        code="internal_error",
        message="the gateway could not complete the request; it has been logged",
        issues=[],
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(GatewayError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.after_request(add_bearer_challenge)
