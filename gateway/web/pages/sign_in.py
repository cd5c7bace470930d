"""Signing in and out, the start page that sends each role to its own page, and the static files."""

from __future__ import annotations

from flask import Response, redirect, request

from gateway.core.people import COMPLIANCE, COORDINATOR, FAMILY
from gateway.errors import AuthenticationFailed
from gateway.service.identity.people import sign_in, sign_out
from gateway.web.auth import current_runtime
from gateway.web.i18n import gettext
from gateway.web.pages.common import (
    ANONYMOUS_CSRF_COOKIE,
    SESSION_COOKIE,
    current_person,
    make_blueprint,
    render_page,
    secure_cookies,
)

bp = make_blueprint("sign_in")
HOME_OF_ROLE = {COMPLIANCE: "/compliance", COORDINATOR: "/students", FAMILY: "/family"}
MAX_FIELD = 1024


@bp.get("/")
def home() -> Response:
    person = current_person()
    if person is None:
        return redirect("/sign-in", 303)  # type: ignore[return-value]
    return redirect(HOME_OF_ROLE.get(person.role, "/sign-in"), 303)  # type: ignore[return-value]


@bp.get("/sign-in")
def sign_in_form() -> Response:
    return render_page("sign_in.html", next=_safe_next(request.args.get("next", "")), problem="")


@bp.post("/sign-in")
def sign_in_submit() -> Response:
    email = request.form.get("email", "")[:MAX_FIELD]
    password = request.form.get("password", "")[:MAX_FIELD]
    target = _safe_next(request.form.get("next", ""))
    try:
        signed = sign_in(current_runtime(), email=email, password=password)
    except AuthenticationFailed:
        problem = gettext("The email or password is not right, or the account is locked. Try again later.")
        return render_page("sign_in.html", status=401, next=target, problem=problem, email=email)
    response: Response = redirect(target or HOME_OF_ROLE.get(signed.person.role, "/"), 303)  # type: ignore[assignment]
    response.set_cookie(SESSION_COOKIE, signed.token, httponly=True, samesite="Lax", secure=secure_cookies())
    response.delete_cookie(ANONYMOUS_CSRF_COOKIE)
    return response


@bp.post("/sign-out")
def sign_out_submit() -> Response:
    sign_out(current_runtime(), request.cookies.get(SESSION_COOKIE, ""))
    response: Response = redirect("/sign-in", 303)  # type: ignore[assignment]
    response.delete_cookie(SESSION_COOKIE)
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site: never another host (an open redirect after sign-in)."""
    target = target[:MAX_FIELD]
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return ""
    return target
