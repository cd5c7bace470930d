"""The coordinator's pages: a student's plan by domain with source and date, nothing hidden in
the HTML, what the view can and cannot include decided from agreements and consents (never from
the records present), one 404 for unknown and invisible students, the Refer form queueing what
``spgw refer`` queues, suggestions for a need turned into a referral, CSRF and roles.

The world: Lisa's district records (01-03, 08) and her clinic records (05, then the screening
04), the sample agreements and consents."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest

from gateway.core.ids import student_id_for
from gateway.core.people import COMPLIANCE, COORDINATOR, FAMILY
from gateway.core.plan import iter_elements
from gateway.service.directory import directory_match
from gateway.service.identity import people
from gateway.service.policy import consents
from gateway.service.referrals.deliveries import content_digest, refer
from gateway.service.referrals.referrals import StatusReport, report_in
from gateway.service.runtime import Runtime
from gateway.service.views.coordinator_view import student_page
from gateway.service.views.plans import read_plan
from gateway.storage import plan_store
from gateway.web import create_app
from tests.conftest import PROJECT_ROOT
from tests.helpers import LISA, count_rows, send_demo
from tests.pages_helpers import csrf_of, person, post_form, signed_in
from tests.referral_world import REFERRAL_CONSENT, consent_covers_referrals, delivery
from tests.test_directory_match import COORDINATES, FakeSearch, send_address

DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
SCREENING_CONSENT = "consent-0001-riverside-to-gbisd"
OTHER = student_id_for("https://grandbend.example.org/ns/studentUniqueId", "604845")  # district records only
UNKNOWN = "stu-aaaaaaaaaaaaaaaaaaaaaaaaaa"
CONSENTS = PROJECT_ROOT / "consent_policies" / "samples" / "consents"


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    for prefix in ("01", "02", "03", "05", "04", "08"):  # the patient before the screening: it lands
        send_demo(rt, prefix)
    return rt


def client_of(rt: Runtime, role: str = COORDINATOR, **kw: Any) -> Any:
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    if role == COORDINATOR:
        kw.setdefault("organization", DISTRICT)
    _, email, password = person(rt, role, **kw)
    return signed_in(client, email, password)


def html(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def text_of(page: str) -> str:
    """The page's words, tags gone and spaces folded (for sentences split by markup)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace(" :", ":")


# -- the plan by domain ----------------------------------------------------------------------


def test_the_plan_is_shown_by_domain_each_fact_with_its_source_and_date(world: Runtime) -> None:
    page = html(client_of(world).get(f"/students/{LISA}"))
    order = ["Strengths", "Interests", "Needs", "Goals", "Supports and referrals", "Academic",
             "Attendance and engagement", "Family and basic needs", "Team", "Enrollments"]  # fmt: skip
    positions = [page.index(f">{title}</h3>") for title in order]
    assert positions == sorted(positions)
    words = text_of(page)
    assert "Chronic absence (Attendance and engagement)" in words
    assert "Grand Bend ISD 2025-09-10 received on 2026-11-23" in words  # source, fact date, arrival
    assert "Lisa M Woods" in words  # the district's own record of her name
    assert 'href="/students/' + LISA + "/needs/" in page  # each need: find services


# -- what is hidden is not in the HTML --------------------------------------------------------


def _strings(element: Any) -> set[str]:
    if isinstance(element, dict):
        return {s for k, v in element.items() if k not in ("provenance", "labels") for s in _strings(v)}
    if isinstance(element, list):
        return {s for v in element for s in _strings(v)}
    return (
        {str(element)} if isinstance(element, str | int | float) and not isinstance(element, bool) else set()
    )


@pytest.mark.parametrize("organization", [DISTRICT, CLINIC])
def test_no_hidden_value_is_in_the_html(world: Runtime, organization: str) -> None:
    page = html(client_of(world, organization=organization).get(f"/students/{LISA}"))
    page = page[page.index("<main") :]  # the site's header names languages ("English")
    reader = person(world, COORDINATOR, organization=organization)[0]
    shown = read_plan(world, people.read_request_for(reader, LISA)).plan
    with world.sessions() as session:
        stored = plan_store.get_plan(session, LISA).document  # type: ignore[union-attr]
    visible_ids = {e["id"] for _, e in iter_elements(shown)}
    visible = set().union(*(_strings(e) for _, e in iter_elements(shown)))
    hidden = [e for _, e in iter_elements(stored) if e["id"] not in visible_ids]
    assert hidden, "the case must hide something"
    leaked = {s for e in hidden for s in _strings(e) - visible if len(s) > 3 and s in page}
    assert not leaked
    assert not [e["id"] for e in hidden if e["id"] in page]


def test_what_the_read_does_not_show_is_withheld_in_the_header(world: Runtime) -> None:
    page = html(client_of(world, organization=CLINIC).get(f"/students/{LISA}"))
    assert page.count(">withheld<") == 4  # name, birth date, grade, school: the district's, not shown
    for value in ("Woods", "2010-03-14", "255901001"):
        assert value not in page


# -- can / cannot include ----------------------------------------------------------------------


def _deny_screening(rt: Runtime) -> None:
    document = json.loads((CONSENTS / f"{SCREENING_CONSENT}.json").read_text("utf-8"))
    document = {**copy.deepcopy(document), "id": "consent-deny-screening", "dateTime": "2026-02-01T10:00:00Z"}
    document["provision"]["type"] = "deny"
    consents.import_consent(rt, document, recorded_by=CLINIC)


def _revoke_screening(rt: Runtime) -> None:
    consents.revoke_consent(rt, SCREENING_CONSENT, by=CLINIC)


# (case, change to the world, partner, category, outcome, reason)
SCOPE = [
    pytest.param(None, CLINIC, "sdoh-screening", "can", "allowed", id="agreement and consent: can"),
    pytest.param(_revoke_screening, CLINIC, "sdoh-screening", "cannot", "no-consent", id="consent revoked"),
    pytest.param(_deny_screening, CLINIC, "sdoh-screening", "cannot", "consent-refuses", id="family says no"),
    pytest.param(None, CLINIC, "care-plan", "cannot", "no-consent", id="agreement, HIPAA, no consent"),
    pytest.param(None, CLINIC, "health-condition", "cannot", "no-agreement", id="sent, not received"),
    pytest.param(None, CLINIC, "substance-use", "cannot", "no-agreement", id="only an expired agreement"),
    pytest.param(None, FOOD_BANK, "referral", "partly", "no-consent",
                 id="status reports (no law) can, HIPAA-labelled referral records need a consent"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "partner", "category", "outcome", "reason"), SCOPE)
def test_what_the_view_can_include_is_decided_from_agreements_and_consents(
    world: Runtime, change: Any, partner: str, category: str, outcome: str, reason: str
) -> None:
    if change is not None:
        change(world)
    coordinator = person(world, COORDINATOR, organization=DISTRICT)[0]
    scope = student_page(world, coordinator, LISA).scope
    [statement] = [s for s in scope.statements if (s.organization, s.category) == (partner, category)]
    assert (statement.outcome, statement.reason) == (outcome, reason)


def test_the_statements_do_not_depend_on_which_records_exist(world: Runtime) -> None:
    coordinator = person(world, COORDINATOR, organization=DISTRICT)[0]
    lisa, other = student_page(world, coordinator, LISA), student_page(world, coordinator, OTHER)
    assert [s.category for s in lisa.plan.section("needs").facts] != []
    assert {(s.organization, s.category) for s in lisa.scope.statements} == {
        (s.organization, s.category) for s in other.scope.statements
    }
    # Lisa's mother consented to the screening going to the district; the other student has no consent.
    before = {(s.organization, s.category): s.outcome for s in other.scope.statements}
    assert before[(CLINIC, "sdoh-screening")] == "cannot"


def test_the_statements_read_as_sentences(world: Runtime) -> None:
    _revoke_screening(world)
    words = text_of(html(client_of(world).get(f"/students/{LISA}")))
    assert (
        "social-needs screening records from Riverside Community Health Center: no consent on file" in words
    )
    assert (
        "health condition records from Riverside Community Health Center: no agreement in force lets "
        "Grand Bend ISD receive them" in words
    )


# -- one answer for unknown and invisible students -------------------------------------------


@pytest.mark.parametrize("path", ["/students/{}", "/students/{}/needs/el-x/services"])
def test_an_unknown_student_and_one_not_to_be_seen_get_the_same_404(world: Runtime, path: str) -> None:
    client = client_of(world, organization=CLINIC)  # the clinic holds nothing of OTHER
    unknown, hidden = client.get(path.format(UNKNOWN)), client.get(path.format(OTHER))
    assert unknown.status_code == hidden.status_code == 404
    assert html(unknown).replace(UNKNOWN, "S") == html(hidden).replace(OTHER, "S")


def test_the_student_list_holds_the_coordinators_students(world: Runtime) -> None:
    district = html(client_of(world).get("/students"))
    assert LISA in district
    assert OTHER in district
    clinic = html(client_of(world, organization=CLINIC).get("/students"))
    assert LISA in clinic  # the clinic's own patient record of Lisa
    search = client_of(world).get("/students?q=604822")  # one match: straight to the student
    assert (search.status_code, search.headers["Location"]) == (303, f"/students/{LISA}")
    assert "No student of yours" in html(client_of(world).get("/students?q=nobody"))


# -- refer ----------------------------------------------------------------------------------


def test_the_refer_form_queues_what_spgw_refer_queues(world: Runtime) -> None:
    consent_covers_referrals(world)
    client = client_of(world)
    form = {
        "recipient": FOOD_BANK,
        "purpose": "referral-fulfillment",
        "role": "case-worker",
        "reason_code": "",
    }
    answer = post_form(client, f"/students/{LISA}", f"/students/{LISA}/referrals", form)
    assert answer.status_code == 303
    delivery_id = answer.headers["Location"].split("referred=")[1].split("#")[0]
    row = delivery(world, delivery_id)
    requested_by = row.payload["referral"]["requestedBy"]
    # The CLI's call, with the same arguments: the same queued referral (a double submit queues once).
    again = refer(
        world,
        student_ref=LISA,
        source_org=DISTRICT,
        recipient_org=FOOD_BANK,
        actor=requested_by,
        role="case-worker",
        purpose="referral-fulfillment",
    )
    assert again.id == delivery_id
    assert (row.status, row.consent_ids) == ("queued", [REFERRAL_CONSENT])
    assert content_digest(row.payload) == content_digest(delivery(world, again.id).payload)
    page = html(client.get(answer.headers["Location"]))
    assert f"Referral {delivery_id} is queued" in page


def test_a_refused_referral_is_shown_on_the_page_and_nothing_is_queued(world: Runtime) -> None:
    consents.revoke_consent(world, REFERRAL_CONSENT, by=DISTRICT)
    client = client_of(world)
    form = {"recipient": FOOD_BANK, "purpose": "referral-fulfillment", "role": "case-worker"}
    answer = post_form(client, f"/students/{LISA}", f"/students/{LISA}/referrals", form)
    assert answer.status_code == 403
    assert "The referral was not queued" in html(answer)
    bad = post_form(client, f"/students/{LISA}", f"/students/{LISA}/referrals", {**form, "role": "wizard"})
    assert bad.status_code == 400
    assert "role: not a known role" in html(bad)
    assert count_rows(world, "deliveries") == 0


def test_the_referral_status_history_is_shown(world: Runtime) -> None:
    consent_covers_referrals(world)
    queued = refer(world, student_ref=LISA, source_org=DISTRICT, recipient_org=FOOD_BANK, actor="t",
                   role="case-worker", purpose="referral-fulfillment")  # fmt: skip
    for status in ("accepted", "completed"):
        with world.sessions.begin() as session:
            report = StatusReport(delivery_id=queued.id, reporter=FOOD_BANK, status=status)
            report_in(session, world, report, collected=True)
    coordinator = person(world, COORDINATOR, organization=DISTRICT)[0]
    [history] = student_page(world, coordinator, LISA).referrals
    assert [e.status for e in history.events] == ["queued", "requested", "sent", "accepted", "completed"]
    assert (history.referral_status, history.delivery_status) == ("completed", "sent")
    words = text_of(html(client_of(world).get(f"/students/{LISA}")))
    assert "Status: completed; delivery: sent" in words


# -- suggestions and refer-from-suggestion ----------------------------------------------------


@pytest.fixture
def pantry(world: Runtime, monkeypatch: pytest.MonkeyPatch) -> FakeSearch:
    send_address(world, COORDINATES)
    consent_covers_referrals(world)
    fake = FakeSearch()
    monkeypatch.setattr(directory_match, "_search", fake)
    return fake


def _food_need(rt: Runtime) -> str:
    coordinator = person(rt, COORDINATOR, organization=DISTRICT)[0]
    needs = student_page(rt, coordinator, LISA).plan.section("needs").facts
    return next(f.element_id for f in needs if f.category == "sdoh-screening")


def test_a_suggestion_becomes_a_referral_to_the_partner_it_is(world: Runtime, pantry: FakeSearch) -> None:
    client, need = client_of(world), _food_need(world)
    services = f"/students/{LISA}/needs/{need}/services"
    page = html(client.get(services))
    assert "Northside Pantry" in page
    assert "Refer to this service" in page
    assert "km" in text_of(page)  # the suggestion explains itself
    form = re.search(r'name="service" value="([^"]+)".*?name="when" value="([^"]+)"', page, re.S)
    assert form is not None
    answer = client.post(
        f"/students/{LISA}/needs/{need}/referrals",
        data={"service": form.group(1), "when": form.group(2), "tz": "UTC", "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 303, html(answer)[:400]
    delivery_id = answer.headers["Location"].split("referred=")[1].split("#")[0]
    row = delivery(world, delivery_id)
    assert (row.recipient_org, row.purpose, row.role, row.status) == (
        FOOD_BANK, "referral-fulfillment", "case-worker", "queued",
    )  # fmt: skip
    assert row.payload["referral"].get("reasonCode")  # the need's code names the referral


def test_a_directory_organization_that_is_no_partner_gets_no_button(
    world: Runtime, pantry: FakeSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    def elsewhere(rt: Runtime, query: Any) -> Any:
        [found] = pantry(rt, query)
        service = dataclasses.replace(found.service, organization="Eastside Pantry")
        return [dataclasses.replace(found, service=service)]

    monkeypatch.setattr(directory_match, "_search", elsewhere)
    client, need = client_of(world), _food_need(world)
    page = html(client.get(f"/students/{LISA}/needs/{need}/services"))
    assert "Not a partner of the gateway" in page
    assert "Refer to this service" not in page
    answer = client.post(
        f"/students/{LISA}/needs/{need}/referrals", data={"service": "dir-1", "csrf_token": csrf_of(page)}
    )
    assert answer.status_code == 409
    assert count_rows(world, "deliveries") == 0


# -- CSRF and roles -----------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(world: Runtime) -> None:
    consent_covers_referrals(world)
    form = {"recipient": FOOD_BANK, "purpose": "referral-fulfillment", "role": "case-worker"}
    answer = client_of(world).post(f"/students/{LISA}/referrals", data=form)
    assert answer.status_code == 403
    assert count_rows(world, "deliveries") == 0


@pytest.mark.parametrize(("role", "kw"), [(FAMILY, {"student_refs": (LISA,)}), (COMPLIANCE, {})])
@pytest.mark.parametrize("path", ["/students", f"/students/{LISA}"])
def test_other_roles_get_403(world: Runtime, role: str, kw: dict[str, Any], path: str) -> None:
    assert client_of(world, role, **kw).get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(world: Runtime) -> None:
    answer = create_app({"TESTING": True}, runtime=world).test_client().get(f"/students/{LISA}")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/sign-in?next=")


def test_the_page_speaks_spanish(world: Runtime) -> None:
    words = text_of(html(client_of(world, organization=CLINIC).get(f"/students/{LISA}?lang=es")))
    assert "Qué incluye esta vista" in words
    assert "retenido" in words
    assert "What this view includes" not in words
