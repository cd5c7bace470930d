"""Helpers for the pages' tests: people with random passwords, and a test client that signs in
through the real sign-in form (its CSRF token included)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask.testing import FlaskClient

from gateway.core.people import Person
from gateway.service.identity.people import add_person
from gateway.service.runtime import Runtime

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def person(rt: Runtime, role: str, *, email: str | None = None, **kw: Any) -> tuple[Person, str, str]:
    """Add a person of ``role`` (organization / student_refs in ``kw``); (person, email, password)."""
    email = email or f"{role}-{secrets.token_hex(4)}@example.org"
    password = "pw-" + secrets.token_urlsafe(16)
    return add_person(rt, email=email, role=role, password=password, **kw), email, password


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def signed_in(client: FlaskClient, email: str, password: str) -> FlaskClient:
    form = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.get_data(as_text=True))},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    return client


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, Any]) -> Any:
    """Post ``data`` to ``action`` with the CSRF token of the form on ``page``, as a browser would."""
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={**data, "csrf_token": csrf_of(html)})
