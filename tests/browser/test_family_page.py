"""The family's pages in a real browser: the child's plan in words (English and Spanish), the grant
form and its problems, and a consent withdrawn by keyboard that the coordinator's next read no
longer shows; axe-core finds no serious or critical violation on any of them, and every control is
reached by keyboard. Screenshots: var/screenshots/family-*.png."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from tests.browser.browsing import main_text, tab_to
from tests.browser.conftest import LiveGateway
from tests.helpers import LISA, coordinator_view

SAMPLE_CONSENT = "consent-0001-riverside-to-gbisd"
WITHDRAW = f"form[action='/family/{LISA}/consents/{SAMPLE_CONSENT}/withdraw'] button"


def sees_screening(live_gateway: LiveGateway) -> bool:
    needs = coordinator_view(live_gateway.rt).get("needs", [])
    return any(n["labels"]["category"] == "sdoh-screening" for n in needs)


def test_the_children_and_the_plan_are_accessible_and_usable_by_keyboard(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    check_keyboard: Callable,
    screenshot: Callable,
) -> None:
    family = live_gateway.account("family")
    sign_in_as(browser_page, family.email, family.password)
    browser_page.goto("/family")
    check_accessible(browser_page)
    screenshot(browser_page, "family-children")
    with browser_page.expect_navigation():
        browser_page.click(f"a[href='/family/{LISA}']")
    text = main_text(browser_page)
    assert "Need: not always having enough food (still to be worked on)" in text
    assert "March 14, 2010" in text
    check_accessible(browser_page)
    walk = check_keyboard(browser_page)
    assert any("Withdraw this consent" in reached for reached in walk.reached)
    screenshot(browser_page, "family-plan")


def test_the_plan_in_spanish(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    family = live_gateway.account("family")
    sign_in_as(browser_page, family.email, family.password)
    browser_page.goto(f"/family/{LISA}?lang=es")
    text = main_text(browser_page)
    assert "Necesidad: no tener siempre suficiente comida (todavía por atender)" in text
    assert "14 de marzo de 2010" in text
    assert browser_page.get_attribute("html", "lang") == "es"
    check_accessible(browser_page)
    screenshot(browser_page, "family-plan-es")


def test_the_grant_form_names_its_problems_accessibly(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    family = live_gateway.account("family")
    sign_in_as(browser_page, family.email, family.password)
    browser_page.goto(f"/family/{LISA}/consents/new")
    check_accessible(browser_page)
    # Tab reaches each control in order. (check_keyboard's walk stops inside the date field, whose
    # day, month and year parts are three Tab stops of one element.)
    browser_page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for control in (
        "#grantor",
        "#recipient",
        "#category-attendance",
        "#purpose",
        "#until",
        "form.stacked [type=submit]",
    ):
        tab_to(browser_page, control)
    browser_page.select_option("#grantor", "riverside-health")
    browser_page.select_option("#recipient", "riverside-health")
    browser_page.select_option("#purpose", "care-coordination")
    browser_page.fill("#until", "2027-06-30")
    with browser_page.expect_navigation():
        browser_page.click("form.stacked [type=submit]")
    assert browser_page.locator("[role=alert] li").count() == 2  # recipient, kinds of records
    assert browser_page.get_attribute("#recipient", "aria-invalid") == "true"
    check_accessible(browser_page)
    screenshot(browser_page, "family-grant-problems")


def test_a_consent_withdrawn_by_keyboard_hides_the_data_from_the_coordinator(
    live_gateway: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    # Last in the module: the demo consent stays withdrawn for the module's gateway.
    assert sees_screening(live_gateway)
    family = live_gateway.account("family")
    sign_in_as(browser_page, family.email, family.password)
    browser_page.goto(f"/family/{LISA}")
    browser_page.evaluate("() => document.activeElement && document.activeElement.blur()")
    tab_to(browser_page, WITHDRAW)
    with browser_page.expect_navigation():
        browser_page.keyboard.press("Enter")
    assert "Your consent is withdrawn" in main_text(browser_page)
    assert browser_page.locator(WITHDRAW).count() == 0
    check_accessible(browser_page)
    screenshot(browser_page, "family-withdrawn")
    assert not sees_screening(live_gateway)
