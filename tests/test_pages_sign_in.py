"""People sign in to the pages: accounts, sessions, lock-out, CSRF, cookies, language, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from gateway.core.people import COMPLIANCE, COORDINATOR, FAMILY, GUARDIAN_SYSTEM, MAX_FAILURES
from gateway.errors import InputInvalid, NotFound
from gateway.service.identity.guardian_links import list_guardians
from gateway.service.identity.people import add_person, end_sessions, sign_in
from gateway.web import create_app
from tests.helpers import LISA, send_demo
from tests.pages_helpers import csrf_of, person, signed_in

HOMES = [(COMPLIANCE, {}, "/compliance"), (COORDINATOR, {"organization": "grand-bend-isd"}, "/students"),
         (FAMILY, {"student_refs": (LISA,)}, "/family")]  # fmt: skip


@pytest.fixture
def rt(rt):
    send_demo(rt, "01")  # the district registers Lisa, whose parent signs in on the family page
    return rt


@pytest.fixture
def client(rt):
    return create_app({"TESTING": True}, runtime=rt).test_client()


def _post_sign_in(client, email, password, **extra):
    token = csrf_of(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token, **extra})


@pytest.mark.parametrize(("role", "kw", "home"), HOMES)
def test_each_role_signs_in_and_lands_on_its_page(rt, client, role, kw, home):
    _, email, password = person(rt, role, **kw)
    answer = _post_sign_in(client, email.upper(), password)  # emails compare without case
    assert answer.status_code == 303
    assert answer.headers["Location"] == home
    assert client.get("/").headers["Location"] == home


def test_a_refusal_is_one_message_whatever_was_wrong(rt, client):
    _, email, password = person(rt, COMPLIANCE)
    wrong = _post_sign_in(client, email, password + "x")
    unknown = _post_sign_in(client, "nobody@example.org", password)
    assert wrong.status_code == unknown.status_code == 401
    # The same page but for the email typed, which the form keeps.
    assert wrong.get_data(as_text=True).replace(email, "E") == unknown.get_data(as_text=True).replace(
        "nobody@example.org", "E"
    )
    assert "spgw_session" not in wrong.headers.get("Set-Cookie", "")


def test_repeated_failures_lock_the_account_for_a_while(rt, client, clock):
    _, email, password = person(rt, COMPLIANCE)
    for _ in range(MAX_FAILURES):
        assert _post_sign_in(client, email, "not-the-password-at-all").status_code == 401
    assert _post_sign_in(client, email, password).status_code == 401  # locked: the right password too
    clock.advance(minutes=16)
    assert _post_sign_in(client, email, password).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(rt, client):
    _, email, password = person(rt, COMPLIANCE)
    refused = client.post("/sign-in", data={"email": email, "password": password})
    assert refused.status_code == 403
    forged = client.post("/sign-in", data={"email": email, "password": password, "csrf_token": "forged"})
    assert forged.status_code == 403
    signed_in(client, email, password)
    assert client.post("/sign-out").status_code == 403  # a signed-in form needs the session's token
    assert client.get("/").status_code == 303
    assert client.get("/").headers["Location"] == "/compliance"


def test_session_cookie_flags_and_page_headers(rt):
    _, email, password = person(rt, COMPLIANCE)
    local = create_app({"TESTING": True}, runtime=rt).test_client()
    answer = _post_sign_in(local, email, password)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    remote = create_app({"TESTING": True}, runtime=rt).test_client()
    page = remote.get("/sign-in", base_url="https://gateway.example.org")
    assert "Secure" in page.headers["Set-Cookie"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil", "javascript:x"])
def test_sign_in_never_redirects_off_site(rt, client, target):
    _, email, password = person(rt, COMPLIANCE)
    answer = _post_sign_in(client, email, password, next=target)
    assert answer.headers["Location"] == "/compliance"


def test_sign_in_returns_to_the_page_asked_for(rt, client):
    _, email, password = person(rt, COMPLIANCE)
    assert (
        _post_sign_in(client, email, password, next="/compliance?x=1").headers["Location"]
        == "/compliance?x=1"
    )


def test_sign_out_ends_the_session(rt, client):
    _, email, password = person(rt, COMPLIANCE)
    signed_in(client, email, password)
    token = csrf_of(client.get("/sign-in").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": token}).headers["Location"] == "/sign-in"
    assert client.get("/").headers["Location"] == "/sign-in"


def test_an_idle_session_ends_and_the_operator_can_end_all(rt, client, clock):
    _, email, password = person(rt, COMPLIANCE)
    signed_in(client, email, password)
    clock.advance(minutes=31)
    assert client.get("/").headers["Location"] == "/sign-in"
    signed_in(client, email, password)
    assert end_sessions(rt, email) == 1
    assert client.get("/").headers["Location"] == "/sign-in"


def test_sign_ins_are_audited_without_the_email(rt, client):
    _, email, password = person(rt, COMPLIANCE)
    _post_sign_in(client, email, "wrong-password-here")
    _post_sign_in(client, email, password)
    with rt.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT details FROM audit_entries WHERE kind = 'person.sign_in' ORDER BY seq")
        ).all()
        everything = " ".join(str(row) for row in connection.execute(text("SELECT * FROM audit_entries")))
    outcomes = [
        json.loads(row[0])["outcome"] if isinstance(row[0], str) else row[0]["outcome"] for row in rows
    ]
    assert outcomes == ["wrong-password", "signed-in"]
    assert email not in everything
    assert email.split("@")[0] not in everything


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"query_string": {"lang": "es"}}, "Iniciar sesión"),
        ({"headers": {"Accept-Language": "es-MX,es;q=0.9"}}, "Iniciar sesión"),
        ({"headers": {"Accept-Language": "fr"}}, "Sign in"),
        ({}, "Sign in"),
    ],
)
def test_the_page_language(client, how, expected):
    page = client.get("/sign-in", **how).get_data(as_text=True)
    assert f"<h1>{expected}</h1>" in page
    assert f'lang="{"es" if "Iniciar" in expected else "en"}"' in page


def test_the_chosen_language_is_remembered(client):
    client.get("/sign-in?lang=es")
    assert "<h1>Iniciar sesión</h1>" in client.get("/sign-in").get_data(as_text=True)


BAD_ACCOUNTS = [
    ({"email": "not-an-email", "role": COMPLIANCE}, "email"),
    ({"role": COMPLIANCE, "password": "short"}, "password"),
    ({"role": "administrator"}, "role"),
    ({"role": COORDINATOR}, "organization"),
    ({"role": COORDINATOR, "organization": "no-such-org"}, "organization"),
    ({"role": FAMILY}, "student"),
    ({"role": FAMILY, "student_refs": (LISA,), "organization": "grand-bend-isd"}, "organization"),
]


@pytest.mark.parametrize(("kw", "path"), BAD_ACCOUNTS)
def test_an_account_that_cannot_be_added_names_the_field(rt, kw, path):
    values = {"email": "someone@example.org", "password": "a-long-enough-password", **kw}
    with pytest.raises(InputInvalid) as refused:
        add_person(rt, **values)
    assert path in [issue.path for issue in refused.value.issues]


def test_the_same_email_twice_is_refused(rt):
    person(rt, COMPLIANCE, email="dup@example.org")
    with pytest.raises(InputInvalid):
        person(rt, COMPLIANCE, email="DUP@example.org")


def test_a_family_member_of_an_unknown_student_is_refused(rt):
    with pytest.raises(NotFound):
        person(rt, FAMILY, student_refs=("stu-0000000000000000",))


def test_a_family_member_is_linked_to_their_child_as_guardian(rt):
    family, email, password = person(rt, FAMILY, student_refs=(LISA,))
    links = [(g.system, g.value, g.relationship) for g in list_guardians(rt, LISA)]
    assert (GUARDIAN_SYSTEM, family.id, "PRN") in links
    assert sign_in(rt, email=email, password=password).person.student_ids == (LISA,)


def test_a_coordinators_read_is_audited_under_their_organization_once(rt):
    from gateway.service.identity.people import read_request_for
    from gateway.service.views.plans import read_plan

    coordinator, _, _ = person(rt, COORDINATOR, organization="grand-bend-isd")
    read_plan(rt, read_request_for(coordinator, LISA))
    with rt.engine.connect() as connection:
        query = text("SELECT actor FROM audit_entries WHERE kind = 'plan.read'")
        actors = set(connection.execute(query).scalars())
    assert actors == {f"grand-bend-isd/{coordinator.id}"}
