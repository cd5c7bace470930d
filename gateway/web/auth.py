"""Who is calling: the OAuth 2.0 token endpoint and the bearer check in front of ``/api/v1``.

Partners get a token with the client-credentials grant, authenticating the client by HTTP Basic
(``client_secret_basic``), by form fields (``client_secret_post``) or by a signed JWT
(``private_key_jwt``, SMART Backend Services style), and may ask for ``scope``, ``purpose`` and
``role`` (``service.smart.grant_token``). Refusals are RFC 6749 5.2 bodies (``error``,
``error_description``); a failed client authentication is one answer, so a caller never learns
which part was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote_plus

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.datastructures import MultiDict

from gateway.core.limits import printable
from gateway.errors import AuthenticationFailed, GatewayError, InputInvalid, InvalidScope, Issue
from gateway.service.administration.partners import (
    ASSERTION_TYPE,
    Principal,
    authenticate_assertion,
    authenticate_secret,
    issue_access_token,
    verify_access_token,
)
from gateway.service.fhir.smart import grant_token
from gateway.service.runtime import Runtime

RUNTIME_KEY = "spgw"
GRANT_TYPE = "client_credentials"

bp = Blueprint("auth", __name__)


def current_runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def current_principal() -> Principal:
    """The partner that presented the bearer token (set by ``require_principal``)."""
    return cast(Principal, g.principal)


def require_principal() -> None:
    """``before_request`` of the API blueprint: no valid bearer token, no further work."""
    # An absent or non-Bearer header is verified as an empty token, so it gets the service's
    # one refusal, word for word, like an expired or forged token.
    g.principal = verify_access_token(current_runtime(), _bearer_token())


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    """What the client presented at the token endpoint, by method."""

    method: str
    client_id: str = ""
    client_secret: str = ""
    assertion: str = ""


@bp.post("/oauth/token")
def token() -> Response:
    form = request.form
    try:
        response = jsonify(issue_access_token(current_runtime(), _granted(current_runtime(), form)))
    except GatewayError as error:
        if error.status >= 500:
            raise  # the gateway's own failure: the one error shape, logged
        response = _token_error(error, form)
    # RFC 6749 5.1: a token answer (and its refusal) must not be cached anywhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _granted(rt: Runtime, form: MultiDict[str, str]) -> Principal:
    _check_grant_type(form)
    principal = _authenticate(rt, _presented(form))
    return grant_token(
        rt, principal, scope=form.get("scope"), purpose=form.get("purpose"), role=form.get("role")
    )


def _token_error(error: GatewayError, form: MultiDict[str, str]) -> Response:
    """RFC 6749 5.2: ``{"error", "error_description"}``; 401 with a Basic challenge for a client
    that failed to authenticate (one answer for every cause), 400 otherwise."""
    code = oauth_error_code(error, given_grant_type=bool(form.get("grant_type")))
    details = "; ".join(f"{i.path}: {i.message}" for i in error.issues)
    description = printable(f"{error.message} ({details})" if details else error.message)
    response = jsonify({"error": code, "error_description": description})
    response.status_code = 401 if code == "invalid_client" else 400
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="spgw"'
    return response


def oauth_error_code(error: GatewayError, *, given_grant_type: bool) -> str:
    if isinstance(error, AuthenticationFailed):
        return "invalid_client"
    if isinstance(error, InvalidScope):
        return "invalid_scope"
    if given_grant_type and any(i.path == "grant_type" for i in error.issues):
        return "unsupported_grant_type"
    return "invalid_request"


def _check_grant_type(form: MultiDict[str, str]) -> None:
    if form.get("grant_type") != GRANT_TYPE:
        raise InputInvalid(
            "unsupported grant type",
            [Issue(path="grant_type", message=f"use grant_type={GRANT_TYPE}")],
        )


def _presented(form: MultiDict[str, str]) -> list[ClientCredentials]:
    found = []
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        # RFC 6749 2.3.1: the id and secret are form-encoded before they are put in Basic.
        found.append(
            ClientCredentials(
                method="client_secret_basic",
                client_id=unquote_plus(auth.username or ""),
                client_secret=unquote_plus(auth.password or ""),
            )
        )
    if "client_secret" in form:
        found.append(
            ClientCredentials(
                method="client_secret_post",
                client_id=form.get("client_id", ""),
                client_secret=form.get("client_secret", ""),
            )
        )
    if "client_assertion" in form or "client_assertion_type" in form:
        _check_assertion_type(form)
        found.append(ClientCredentials(method="private_key_jwt", assertion=form.get("client_assertion", "")))
    return found


def _check_assertion_type(form: MultiDict[str, str]) -> None:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InputInvalid(
            "unsupported client assertion type",
            [Issue(path="client_assertion_type", message=f"use {ASSERTION_TYPE}")],
        )


def _authenticate(rt: Runtime, presented: list[ClientCredentials]) -> Principal:
    if len(presented) > 1:
        # RFC 6749 2.3: a client must not use more than one authentication method per request.
        raise InputInvalid(
            "more than one client authentication method",
            [Issue(path=c.method, message="use exactly one client authentication method") for c in presented],
        )
    if not presented:
        # No credentials at all is an unknown client: let the service give its one refusal.
        return authenticate_secret(rt, "", "")
    credentials = presented[0]
    if credentials.method == "private_key_jwt":
        # The audience is the configured public token URL, never one built from the Host header.
        return authenticate_assertion(rt, credentials.assertion)
    return authenticate_secret(rt, credentials.client_id, credentials.client_secret)
