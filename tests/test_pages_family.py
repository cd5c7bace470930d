"""The family's pages through the app: sign-in and roles, the child's plan in plain words with no
bare code in the HTML, the same 404 for another child as for an unknown one, who saw the record,
a consent granted and withdrawn through the forms (CSRF checked), Spanish with ?lang=es, and every
message of the family pages translated."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from gateway.core.people import COORDINATOR, FAMILY
from gateway.service.policy import consents
from gateway.service.runtime import Runtime
from gateway.web import create_app
from tests.conftest import PROJECT_ROOT
from tests.helpers import DISTRICT_IDS, LISA, coordinator_view, send_demo
from tests.pages_helpers import csrf_of, person, post_form, signed_in

WEB = PROJECT_ROOT / "gateway" / "web"
SAMPLE_CONSENT = "consent-0001-riverside-to-gbisd"
WITHDRAW = f"/family/{LISA}/consents/{SAMPLE_CONSENT}/withdraw"


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    for prefix in ("01", "02", "03", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


@pytest.fixture
def family(lisa: Runtime) -> FlaskClient:
    _, email, password = person(lisa, FAMILY, student_refs=[LISA])
    return signed_in(create_app({"TESTING": True}, runtime=lisa).test_client(), email, password)


def html(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def text_of(page: str) -> str:
    """What a reader sees: the page without its tags (attributes hold URLs and ids, not words)."""
    return re.sub(r"<[^>]+>", " ", page)


def student_id(rt: Runtime, value: str) -> str:
    from gateway.storage import student_store

    with rt.sessions() as session:
        return student_store.links_for(session, [(DISTRICT_IDS, value)])[(DISTRICT_IDS, value)]


def sees_screening(rt: Runtime) -> bool:
    return any(n["labels"]["category"] == "sdoh-screening" for n in coordinator_view(rt).get("needs", []))


# -- who gets in ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(lisa: Runtime) -> None:
    answer = create_app({"TESTING": True}, runtime=lisa).test_client().get(f"/family/{LISA}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/sign-in?next=/family/{LISA}"


def test_another_role_is_refused(lisa: Runtime) -> None:
    _, email, password = person(lisa, COORDINATOR, organization="grand-bend-isd")
    client = signed_in(create_app({"TESTING": True}, runtime=lisa).test_client(), email, password)
    assert [client.get(path).status_code for path in ("/family", f"/family/{LISA}")] == [403, 403]


def test_the_family_lists_its_children(family: FlaskClient) -> None:
    page = html(family.get("/family"))
    assert f'href="/family/{LISA}"' in page
    assert "Lisa M Woods" in page


def test_another_child_is_the_same_404_as_an_unknown_one(family: FlaskClient, lisa: Runtime) -> None:
    marcus = student_id(lisa, "604834")
    answers = [family.get(f"/family/{ref}") for ref in (marcus, "stu-aaaaaaaaaaaaaaaaaaaaaaaaaa", "x|1")]
    assert {a.status_code for a in answers} == {404}
    bodies = {
        html(a).replace(path, "")
        for a, path in zip(answers, (marcus, "stu-aaaaaaaaaaaaaaaaaaaaaaaaaa", "x|1"), strict=True)
    }
    assert len(bodies) == 1
    assert "Lisa" not in bodies.pop()
    assert family.get(f"/family/{marcus}/consents/new").status_code == 404


# -- the plan in plain words ---------------------------------------------------------------

# code in the record -> the words a family reads instead
PLAIN = [
    ("733423003", "not always having enough food"),  # SNOMED CT need
    ("LA19952-3", "at risk"),  # LOINC answer
    ("88124-3", "Screening about"),  # LOINC question
    ("chronic-absence", "Missed 1 in 10 school days or more"),
    ("familyBasicNeeds", "Family and everyday needs (food, housing, transportation)"),
    ("attendanceEngagement", "Attendance and taking part in school"),
    ("riverside-health", "Riverside Community Health Center"),
    ("grand-bend-isd", "Grand Bend ISD"),
    ("sdoh-screening", "answers to questions about everyday needs"),
    ("care-coordination", "to coordinate support for your child"),
    ("active", "still to be worked on"),
    ("2010-03-14", "March 14, 2010"),
]


@pytest.mark.parametrize(("code", "words"), PLAIN)
def test_the_plan_reads_in_words_not_codes(family: FlaskClient, lisa: Runtime, code: str, words: str) -> None:
    coordinator_view(lisa)  # so the accounting has a row to show
    page = html(family.get(f"/family/{LISA}"))
    assert words in page
    assert code not in text_of(page)


def test_the_page_says_who_saw_the_record(family: FlaskClient, lisa: Runtime) -> None:
    page = html(family.get(f"/family/{LISA}"))
    assert "No one outside the organizations" in page
    coordinator_view(lisa)
    page = html(family.get(f"/family/{LISA}"))
    table = page.split('id="who-saw"', 1)[1].split("</section>", 1)[0]
    assert "Grand Bend ISD" in table
    assert "to coordinate support for your child" in table


def test_spanish_with_lang(family: FlaskClient) -> None:
    answer = family.get(f"/family/{LISA}?lang=es")
    page = html(answer)
    assert '<html lang="es">' in page
    for words in (
        "Necesidad",
        "no tener siempre suficiente comida",
        "14 de marzo de 2010",
        "Sus consentimientos",
    ):
        assert words in page
    assert "spgw_lang=es" in answer.headers.get("Set-Cookie", "")
    assert "Your consents" not in page


# -- consents ------------------------------------------------------------------------------


def test_withdraw_then_grant_then_withdraw_through_the_forms(family: FlaskClient, lisa: Runtime) -> None:
    assert sees_screening(lisa)
    answer = post_form(family, f"/family/{LISA}", WITHDRAW, {})
    assert (answer.status_code, answer.headers["Location"]) == (
        303,
        f"/family/{LISA}?done=withdrawn#consents",
    )
    assert not sees_screening(lisa)  # at once, for the coordinator's next read

    terms = {
        "grantor": "riverside-health",
        "recipient": "grand-bend-isd",
        "categories": ["sdoh-screening"],
        "purpose": "care-coordination",
        "until": "2027-06-30",
    }
    answer = post_form(family, f"/family/{LISA}/consents/new", f"/family/{LISA}/consents", terms)
    assert answer.status_code == 303
    assert sees_screening(lisa)
    (granted,) = [
        s
        for s in consents.list_consents(lisa, LISA)
        if s.state == "active" and s.grantor == "riverside-health" and s.id != SAMPLE_CONSENT
    ]
    assert granted.signer_role == "parent"
    page = html(family.get(f"/family/{LISA}?done=granted"))
    assert "Your consent is recorded" in page

    post_form(family, f"/family/{LISA}", f"/family/{LISA}/consents/{granted.id}/withdraw", {})
    assert not sees_screening(lisa)
    assert "withdrawn" in html(family.get(f"/family/{LISA}"))


def test_a_form_without_its_csrf_token_is_refused(family: FlaskClient, lisa: Runtime) -> None:
    assert family.post(WITHDRAW).status_code == 403
    assert family.post(WITHDRAW, data={"csrf_token": "forged"}).status_code == 403
    assert sees_screening(lisa)


def test_a_grant_form_with_problems_says_each_in_the_page_language(family: FlaskClient) -> None:
    page_url = f"/family/{LISA}/consents/new?lang=es"
    form = html(family.get(page_url))
    answer = family.post(
        f"/family/{LISA}/consents",
        data={
            "csrf_token": csrf_of(form),
            "grantor": "riverside-health",
            "recipient": "riverside-health",
            "until": "soon",
        },
    )
    page = html(answer)
    assert answer.status_code == 400
    for message in (
        "Elija quién puede recibirlos",
        "Elija al menos un tipo de registro",
        "Elija para qué se pueden usar",
        "Indique una fecha posterior a hoy",
    ):
        assert message in page
    assert 'value="riverside-health" selected' in page


def test_the_grant_form_offers_no_substance_use_records(family: FlaskClient) -> None:
    page = html(family.get(f"/family/{LISA}/consents/new"))
    assert 'value="sdoh-screening"' in page
    assert 'value="substance-use"' not in page


# -- every message translated --------------------------------------------------------------


def family_msgids() -> set[str]:
    options = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}
    found = {
        message
        for template in sorted((WEB / "templates" / "family").glob("*.html"))
        for _, message, _, _ in extract_from_file("jinja2", str(template), options=options)
    }
    found |= {message for _, message, _, _ in extract_from_file("python", str(WEB / "pages" / "family.py"))}
    return {m for m in found if isinstance(m, str)}


def spanish() -> dict[str, str]:
    merged: dict[str, str] = {}
    for po in sorted((WEB / "translations" / "es").glob("*.po")):
        catalogue = read_po(io.BytesIO(Path(po).read_bytes()), locale="es")
        merged |= {str(m.id): str(m.string) for m in catalogue if m.id and m.string}
    return merged


def test_every_family_message_has_a_spanish_translation() -> None:
    ids = family_msgids()
    assert len(ids) > 50  # the extraction found the pages' messages
    assert sorted(ids - set(spanish())) == []


def test_translations_keep_their_placeholders() -> None:
    found = spanish()
    wrong = [
        m
        for m in family_msgids()
        if sorted(re.findall(r"%\(\w+\)s", m)) != sorted(re.findall(r"%\(\w+\)s", found[m]))
    ]
    assert wrong == []
