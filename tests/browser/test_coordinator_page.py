"""The coordinator's pages in a real browser: the student list and a student's plan by domain with
what the view can and cannot include, a referral made by keyboard from the Refer form and its
status shown on return, and the directory's suggestions for a need with "Refer to this service".
axe-core finds no serious or critical violation on any of them, and every control is reached by
keyboard. Screenshots: var/screenshots/coordinator-*.png."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page

from gateway.service.directory import directory_match
from gateway.service.views.coordinator_view import student_page
from tests.browser.browsing import main_text
from tests.browser.conftest import LiveGateway
from tests.helpers import LISA
from tests.referral_world import consent_covers_referrals
from tests.test_directory_match import COORDINATES, FakeSearch, send_address


@pytest.fixture(scope="module", autouse=True)
def referrals_allowed(live_gateway: LiveGateway) -> None:
    """The family's consent to refer to the food bank names referral fulfilment, and the district
    holds the family's address (so the directory can be searched from it)."""
    consent_covers_referrals(live_gateway.rt)
    send_address(live_gateway.rt, COORDINATES)


@pytest.fixture
def directory() -> Iterator[FakeSearch]:
    """The directory search answers one pantry of the food bank (the search itself is tested
    elsewhere; the server runs in this process, so the stand-in is what it calls)."""
    fake = FakeSearch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(directory_match, "_search", fake)
        yield fake


def signed_in(live_gateway: LiveGateway, page: Page, sign_in_as: Callable) -> Page:
    coordinator = live_gateway.account("coordinator")
    sign_in_as(page, coordinator.email, coordinator.password)
    return page


def test_the_students_and_the_plan_are_accessible_and_usable_by_keyboard(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    check_keyboard: Callable,
    screenshot: Callable,
) -> None:
    page = signed_in(live_gateway, browser_page, sign_in_as)
    assert page.url.endswith("/students")
    check_accessible(page)
    check_keyboard(page)
    screenshot(page, "coordinator-students")
    with page.expect_navigation():
        page.click(f"a[href='/students/{LISA}']")
    text = main_text(page)
    assert "Lisa M Woods" in text
    assert "social-needs screening records from Riverside Community Health Center: can be included" in text
    assert "health condition records from Riverside Community Health Center: no agreement in force" in text
    check_accessible(page)
    walk = check_keyboard(page)
    assert any("Find services" in reached for reached in walk.reached)
    screenshot(page, "coordinator-plan")


def test_a_referral_made_by_keyboard_is_queued_and_shown_with_its_status(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    keyboard_submit: Callable,
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    page = signed_in(live_gateway, browser_page, sign_in_as)
    page.goto(f"/students/{LISA}")
    keyboard_submit(page, {}, submit=f"form[action='/students/{LISA}/referrals'] button")
    text = main_text(page)
    assert "is queued" in text
    assert "Referral to Northside Food Bank" in text
    assert "Status: requested; delivery: queued" in text
    check_accessible(page)
    screenshot(page, "coordinator-referral")


def test_a_suggested_service_becomes_a_referral(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    directory: FakeSearch,
    check_accessible: Callable,
    check_keyboard: Callable,
    screenshot: Callable,
) -> None:
    page = signed_in(live_gateway, browser_page, sign_in_as)
    coordinator = live_gateway.account("coordinator").person
    needs = student_page(live_gateway.rt, coordinator, LISA).plan.section("needs").facts
    food = next(f for f in needs if f.category == "sdoh-screening")
    page.goto(f"/students/{LISA}")
    with page.expect_navigation():
        page.click(f"a[href='/students/{LISA}/needs/{food.element_id}/services']")
    text = main_text(page)
    assert "Northside Pantry" in text
    assert "km" in text
    check_accessible(page)
    check_keyboard(page)
    screenshot(page, "coordinator-services")
    with page.expect_navigation():
        page.click("text=Refer to this service")
    assert "is queued" in main_text(page)
    assert len(directory.asked) == 2  # the page's search, then the same search when referring
