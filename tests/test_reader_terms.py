"""Roles and purposes come from the gateway's vocabulary: an unknown one is refused, naming the
parameter and the allowed terms, before any student is looked up; only codes reach the audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.errors import InputInvalid
from gateway.service.referrals.deliveries import refer
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.web import create_app
from tests.helpers import DISTRICT_IDS, LISA, count_rows, send_demo

DISTRICT, FOOD_BANK = "grand-bend-isd", "northside-food-bank"
READER = {"actor": "t-coord", "role": "coordinator", "purpose": "care-coordination"}
NOBODY = "stu-" + "z" * 26


def read(rt: Runtime, student: str = LISA, **override: str) -> Any:
    terms = {**READER, **override}
    return read_plan(rt, ReadRequest(student_id=student, organization_id=DISTRICT, **terms))


def issues_of(error: InputInvalid) -> dict[str, str]:
    return {i.path: i.message for i in error.issues}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        # one unknown term: named, with every allowed term
        pytest.param({"role": "janitor"}, ["role"], id="unknown-role"),
        pytest.param({"purpose": "marketing"}, ["purpose"], id="unknown-purpose"),
        pytest.param({"role": "Coordinator"}, ["role"], id="terms-are-exact"),
        # every problem at once
        pytest.param({"role": "janitor", "purpose": "marketing"}, ["role", "purpose"], id="both"),
        pytest.param({"actor": "", "purpose": "marketing"}, ["actor", "purpose"], id="missing-and-unknown"),
    ],
)
def test_a_read_with_a_term_outside_the_vocabulary_is_refused(
    rt: Runtime, override: dict[str, str], named: list[str]
) -> None:
    send_demo(rt, "01")
    with pytest.raises(InputInvalid) as refused:
        read(rt, **override)
    assert [i.path for i in refused.value.issues] == named
    messages = issues_of(refused.value)
    if "role" in messages:
        assert all(role in messages["role"] for role in rt.artifacts.vocabulary.roles)
    if "purpose" in messages:
        assert all(p in messages["purpose"] for p in rt.artifacts.vocabulary.purposes)


def test_the_refusal_does_not_depend_on_the_student(rt: Runtime) -> None:
    send_demo(rt, "01")
    answers = []
    for student in (LISA, NOBODY):
        with pytest.raises(InputInvalid) as refused:
            read(rt, student, purpose="marketing")
        answers.append(refused.value.to_dict())
    assert answers[0] == answers[1]


def test_a_refused_term_writes_no_audit_entry(rt: Runtime) -> None:
    send_demo(rt, "01")
    before = count_rows(rt, "audit_entries")
    with pytest.raises(InputInvalid):
        read(rt, role="Dr Lisa Woods")
    assert count_rows(rt, "audit_entries") == before


def test_every_vocabulary_term_is_accepted(rt: Runtime) -> None:
    send_demo(rt, "01")
    vocabulary = rt.artifacts.vocabulary
    for role in sorted(vocabulary.roles):
        read(rt, role=role)
    for purpose in sorted(vocabulary.purposes - {"emergency"}):  # an emergency states its threat
        read(rt, purpose=purpose)


# -- over HTTP and on the command line ------------------------------------------------------


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


def bearer(client: FlaskClient, rt: Runtime, organization: str = DISTRICT) -> dict[str, str]:
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))[organization]
    form = {"grant_type": "client_credentials", **secret}
    return {"Authorization": f"Bearer {client.post('/oauth/token', data=form).get_json()['access_token']}"}


@pytest.mark.parametrize("student", [LISA, NOBODY, f"{DISTRICT_IDS}|604822"])
def test_get_plan_with_an_unknown_purpose_is_400_naming_it(
    client: FlaskClient, rt: Runtime, student: str
) -> None:
    send_demo(rt, "01")
    query = {**READER, "purpose": "marketing"}
    response = client.get(f"/api/v1/plans/{student}", query_string=query, headers=bearer(client, rt))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "input_invalid"
    [issue] = error["issues"]
    assert issue["path"] == "purpose"
    assert "care-coordination" in issue["message"]
    assert "marketing" not in json.dumps(error)  # the caller's text is not echoed


def test_a_referral_with_an_unknown_role_is_refused(client: FlaskClient, rt: Runtime) -> None:
    send_demo(rt, "01")
    body = {
        "student": LISA,
        "recipient": FOOD_BANK,
        "actor": "ms-ortiz",
        "role": "friend",
        "purpose": "gossip",
    }
    response = client.post("/api/v1/referrals", json=body, headers=bearer(client, rt))
    assert response.status_code == 400
    assert [i["path"] for i in response.get_json()["error"]["issues"]] == ["role", "purpose"]
    assert count_rows(rt, "deliveries") == 0


@pytest.mark.parametrize("student", [LISA, NOBODY])
def test_refer_checks_terms_before_the_student(rt: Runtime, student: str) -> None:
    send_demo(rt, "01")
    before = count_rows(rt, "audit_entries")
    with pytest.raises(InputInvalid) as refused:
        refer(
            rt,
            student_ref=student,
            source_org=DISTRICT,
            recipient_org=FOOD_BANK,
            actor="ms-ortiz",
            role="case-worker",
            purpose="marketing",
        )
    assert [i.path for i in refused.value.issues] == ["purpose"]
    assert count_rows(rt, "audit_entries") == before


def test_plan_show_with_an_unknown_role_names_it(
    rt: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    send_demo(rt, "01")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    args = ["--home", str(rt.settings.home), "plan", "show", LISA, "--as", DISTRICT]
    result = CliRunner().invoke(main, [*args, "--role", "janitor", "--purpose", "care-coordination"])
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert [i["path"] for i in error["issues"]] == ["role"]
    assert "coordinator" in error["issues"][0]["message"]
