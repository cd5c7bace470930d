"""What every page shares: the signed-in person, CSRF checks, headers, rendering and error pages.

A page blueprint made by ``make_blueprint`` loads the person from the session cookie before each
view, refuses a state-changing request without the CSRF token of that session (or, before sign-in,
the double-submit cookie's), and answers errors as HTML pages in the request's language. Pages
carry personal data: no caching, no framing, and nothing loaded from another origin.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import Blueprint, Response, g, make_response, redirect, render_template, request
from markupsafe import Markup, escape

from gateway.core.people import Person
from gateway.errors import AccessDenied, GatewayError, NotFound
from gateway.service.identity.people import SessionState, session_state
from gateway.web.auth import current_runtime
from gateway.web.i18n import LANG_COOKIE, LANGUAGE_NAMES, choose_language, gettext, languages

SESSION_COOKIE = "spgw_session"
ANONYMOUS_CSRF_COOKIE = "spgw_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
SECURITY_HEADERS = {
    # Inline styles are allowed for the charts' SVG; scripts only from the gateway itself.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
View = TypeVar("View", bound=Callable[..., Any])
TEMPLATE_FOLDER = "../templates"


class CsrfRefused(AccessDenied):
    """A form came back without the token of the page that showed it (cross-site, or a stale tab)."""


def make_blueprint(name: str, *, url_prefix: str | None = None) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=url_prefix, template_folder=TEMPLATE_FOLDER)
    bp.before_request(load_person)
    bp.before_request(check_csrf)
    bp.after_request(page_headers)
    bp.register_error_handler(GatewayError, error_page)
    return bp


def load_person() -> None:
    g.lang = choose_language()
    state = session_state(current_runtime(), request.cookies.get(SESSION_COOKIE, ""))
    g.session_state = state


def current_person() -> Person | None:
    state = cast(SessionState | None, g.get("session_state"))
    return state.person if state is not None else None


def signed_in_person() -> Person:
    person = current_person()
    if person is None:  # requires_role runs first; this is for the type checker and for safety
        raise AccessDenied("sign in first")
    return person


def csrf_token() -> str:
    """The token forms must send back: the session's, or before sign-in the double-submit cookie's."""
    state = cast(SessionState | None, g.get("session_state"))
    if state is not None:
        return state.csrf
    if "anonymous_csrf" not in g:
        g.anonymous_csrf = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return str(g.anonymous_csrf)


def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    state = cast(SessionState | None, g.get("session_state"))
    expected = state.csrf if state is not None else request.cookies.get(ANONYMOUS_CSRF_COOKIE, "")
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise CsrfRefused(
            "this form has expired or did not come from this site: reload the page and try again"
        )


def requires_role(*roles: str) -> Callable[[View], View]:
    """Only a signed-in person of one of ``roles`` gets the view; anyone else is sent to sign in
    (GET) or refused. The refusal is the same page whatever the URL names."""

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if person is None:
                if request.method == "GET":
                    return redirect(f"/sign-in?next={quote(request.full_path.rstrip('?'), safe='/')}", 303)
                raise AccessDenied("sign in first")
            if person.role not in roles:
                raise AccessDenied("this page is not for your role")
            return view(*args, **kwargs)

        return cast(View, guarded)

    return wrap


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def render_page(template: str, *, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **_page_context(), **context), status)
    return response


def _page_context() -> dict[str, Any]:
    return {
        "current_person": current_person(),
        "csrf_field": csrf_field,
        "lang": g.get("lang", "en"),
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in languages()],
        "here": request.path,
    }


def page_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "lang" in request.args and g.get("lang") == request.args["lang"]:
        response.set_cookie(LANG_COOKIE, g.lang, max_age=365 * 86400, samesite="Lax", secure=secure_cookies())
    if "anonymous_csrf" in g and g.get("session_state") is None:
        response.set_cookie(
            ANONYMOUS_CSRF_COOKIE, g.anonymous_csrf, httponly=True, samesite="Strict", secure=secure_cookies()
        )
    return response


def secure_cookies() -> bool:
    """Cookies are Secure except on a loopback host over plain HTTP (the demo, the tests): browsers
    treat localhost as a secure context, and a real host must be served over TLS."""
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return request.is_secure or forwarded == "https" or request.host.split(":")[0] not in LOCAL_HOSTS


def error_page(error: GatewayError) -> Response:
    status = error.status if 400 <= error.status < 500 else 500
    if isinstance(error, NotFound):
        message = gettext("There is nothing to show at this address, or it is not yours to see.")
    elif isinstance(error, CsrfRefused):
        message = gettext("This form has expired. Go back, reload the page and try again.")
    elif isinstance(error, AccessDenied):
        message = gettext("This page is not available to you.")
    elif status < 500:
        message = str(escape(error.message))
    else:
        message = gettext("Something went wrong on our side. Try again later.")
    return render_page("error.html", status=status, message=message, status_code=status)
