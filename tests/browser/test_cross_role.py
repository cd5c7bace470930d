"""What each role sees and does not see, in a real browser: a family member cannot open another
child (the same 404 as an unknown student), a page of another role is refused, the coordinator's
HTML holds no value the policy masks for them, and a consent the family withdraws on its page is
gone from the coordinator's page on reload."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from gateway.core.ids import student_id_for
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.identity.people import read_request_for
from gateway.service.views.plans import read_plan
from gateway.storage import plan_store
from tests.browser.browsing import main_text, sign_in_as
from tests.browser.conftest import LiveGateway
from tests.helpers import DISTRICT_IDS, LISA, PROJECT_ROOT

MARCUS = student_id_for(DISTRICT_IDS, "604834")  # another of the district's students
UNKNOWN = "stu-" + "a" * 26
CONSENT = "consent-0001-riverside-to-gbisd"  # Lisa's mother let the clinic share screenings
SCREENING = "Food insecurity risk [HVS]"  # the clinic's screening of Lisa, as the coordinator sees it
# The clinic's records the coordinator may never see (care plan: no consent on file; a health
# condition: no agreement lets the district receive it), each with words no other record has.
HIDDEN_GOAL = "Enough food every week, including at month end"
FHIR_SAMPLES = PROJECT_ROOT / "tests" / "samples" / "fhir"
MIN_LENGTH = 6  # shorter values ("09", "en") are everywhere on a page
# Words of the shared vocabulary (categories, domains, resource types, mapping rules, code systems)
# are what a page names in telling what it cannot include; they are not the student's data.
VOCABULARY_WORD = re.compile(r"[A-Za-z][A-Za-z-]*|(https?|urn):.*|.*@\d+#.*")


@pytest.fixture(scope="module", autouse=True)
def clinic_records(live_gateway: LiveGateway) -> None:
    """The clinic's goal and condition for Lisa: in her plan, masked for the coordinator."""
    for sample in ("goal", "condition"):
        record = json.loads((FHIR_SAMPLES / f"{sample}.json").read_text("utf-8"))["record"]
        summary = ingest(
            live_gateway.rt,
            Inbound(
                source_org="riverside-health",
                format_name="fhir-json",
                payload=json.dumps(record).encode(),
                entity=sample,
            ),
        )
        assert summary.outcome["accepted"] == 1, summary


def signed_in(open_page: Callable[[], Page], live_gateway: LiveGateway, role: str) -> Page:
    page = open_page()
    account = live_gateway.account(role)
    sign_in_as(page, account.email, account.password)
    return page


def answer(page: Page, path: str) -> tuple[int, str]:
    """The status and the visible text of the page at ``path``."""
    response = page.goto(path)
    assert response is not None
    return response.status, main_text(page)


# ------------------------------------------------------------------ a family member, another child


@pytest.mark.parametrize(
    "path",
    ["/family/{student}", "/family/{student}/consents/new"],
    ids=["plan", "consent-form"],
)
def test_family_member_cannot_open_another_child(
    path: str, live_gateway: LiveGateway, open_page: Callable[[], Page], screenshot: Callable
) -> None:
    page = signed_in(open_page, live_gateway, "family")
    other = answer(page, path.format(student=MARCUS))
    unknown = answer(page, path.format(student=UNKNOWN))
    assert other[0] == 404
    assert other == unknown  # not a word more about a student who exists
    assert "Marcus" not in page.content()
    screenshot(page, "family-another-child")


def test_family_member_cannot_withdraw_another_childs_consent(
    live_gateway: LiveGateway, open_page: Callable[[], Page]
) -> None:
    """A forged form (the person's own CSRF token, another child's consent URL) is the same 404."""
    page = signed_in(open_page, live_gateway, "family")
    page.goto(f"/family/{LISA}")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answers = [
        page.request.post(f"/family/{student}/consents/{CONSENT}/withdraw", form={"csrf_token": token})
        for student in (MARCUS, UNKNOWN)
    ]
    assert [a.status for a in answers] == [404, 404]
    page.goto(f"/family/{LISA}")
    assert "Withdraw this consent" in page.content()  # Lisa's consents untouched


def test_family_page_lists_only_their_children(
    live_gateway: LiveGateway, open_page: Callable[[], Page]
) -> None:
    page = signed_in(open_page, live_gateway, "family")
    status, text = answer(page, "/family")
    assert status == 200
    assert "Lisa" in text
    assert "Marcus" not in text
    assert "Aiyana" not in text


def test_coordinator_of_another_organization_cannot_open_the_student(
    live_gateway: LiveGateway, open_page: Callable[[], Page]
) -> None:
    stranger = live_gateway.add("coordinator", organization="northside-food-bank")
    page = open_page()
    sign_in_as(page, stranger.email, stranger.password)
    lisa, unknown = answer(page, f"/students/{LISA}"), answer(page, f"/students/{UNKNOWN}")
    assert lisa[0] == 404
    assert lisa == unknown
    assert "Lisa" not in page.content()


# ---------------------------------------------------------------------------------- wrong role

WRONG_ROLE = [
    ("family", "/students"),
    ("family", f"/students/{LISA}"),
    ("family", "/compliance"),
    ("coordinator", "/family"),
    ("coordinator", f"/family/{LISA}"),
    ("coordinator", "/compliance"),
    ("compliance", f"/students/{LISA}"),
    ("compliance", f"/family/{LISA}"),
]


@pytest.mark.parametrize(("role", "path"), WRONG_ROLE)
def test_a_page_of_another_role_is_refused(
    role: str, path: str, live_gateway: LiveGateway, open_page: Callable[[], Page]
) -> None:
    page = signed_in(open_page, live_gateway, role)
    status, text = answer(page, path)
    assert status == 403
    assert "This page is not available to you." in text
    assert "Lisa" not in page.content()


# ---------------------------------------------------------------- masked values in the HTML source


def leaves(node: Any) -> Iterator[str]:
    """Every string and number in a JSON document, keys left out."""
    if isinstance(node, dict):
        for value in node.values():
            yield from leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from leaves(value)
    elif isinstance(node, str | int | float) and not isinstance(node, bool):
        yield str(node)


def masked_values(live_gateway: LiveGateway) -> set[str]:
    """Values of Lisa's stored plan that are in no element the coordinator may see right now."""
    rt = live_gateway.rt
    with rt.sessions() as session:
        stored = plan_store.get_plan(session, LISA)
        assert stored is not None
        unmasked = set(leaves(stored.document))
    request = read_request_for(live_gateway.account("coordinator").person, LISA)
    visible = set(leaves(read_plan(rt, request).plan))
    # A masked value inside a visible one (a date in a visible time, a code's words in a visible
    # name) cannot be told apart on the page: only the others can leak.
    return {
        v
        for v in unmasked - visible
        if len(v) >= MIN_LENGTH
        and not VOCABULARY_WORD.fullmatch(v)
        and not any(v in shown for shown in visible)
    }


def leaked(source: str, masked: set[str]) -> list[str]:
    return sorted(v for v in masked if v in source or html.escape(v) in source)


def test_coordinator_html_source_holds_no_masked_value(
    live_gateway: LiveGateway, open_page: Callable[[], Page]
) -> None:
    masked = masked_values(live_gateway)
    assert HIDDEN_GOAL in masked  # the check has something to find
    page = signed_in(open_page, live_gateway, "coordinator")
    response = page.goto(f"/students/{LISA}")
    assert response is not None
    assert response.status == 200
    assert SCREENING in main_text(page)  # what the consent allows is there
    assert leaked(response.text(), masked) == []  # the bytes the server sent
    assert leaked(page.content(), masked) == []  # and the page as the browser built it


# ---------------------------------------------------------------- consent withdrawn by the family


def test_consent_withdrawn_on_the_family_page_hides_data_from_the_coordinator_on_reload(
    live_gateway: LiveGateway,
    open_page: Callable[[], Page],
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    # Last in the module: it withdraws the shared family member's consent for Lisa.
    coordinator = signed_in(open_page, live_gateway, "coordinator")
    coordinator.goto(f"/students/{LISA}")
    assert SCREENING in main_text(coordinator)

    family = signed_in(open_page, live_gateway, "family")
    family.goto(f"/family/{LISA}")
    consent = family.locator("article.consent").filter(
        has=family.locator("h3", has_text="Riverside Community Health Center may share with Grand Bend ISD")
    )
    with family.expect_navigation():
        consent.get_by_role("button", name="Withdraw this consent").click()
    assert "Your consent is withdrawn." in main_text(family)
    check_accessible(family)
    screenshot(family, "family-consent-withdrawn")

    response = coordinator.reload()
    assert response is not None
    assert response.status == 200
    assert SCREENING not in main_text(coordinator)
    masked = masked_values(live_gateway)
    assert SCREENING in masked  # the policy now masks it too
    assert leaked(response.text(), masked) == []
    screenshot(coordinator, "coordinator-after-withdrawal")
