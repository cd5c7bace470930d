"""Signing in and out in a real browser: the form is accessible and usable by keyboard, a refusal
says one thing whatever was wrong, a locked account stays refused, and each role lands on its page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from tests.browser.browsing import main_text
from tests.browser.conftest import LiveGateway

HOME_OF_ROLE = {"compliance": "/compliance", "coordinator": "/students", "family": "/family"}
PROBLEM = "#sign-in-problem"


def path_of(page: Page) -> str:
    return urlparse(page.url).path


def submit_sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form:has(#password) [type=submit]")


def test_sign_in_page_is_accessible_and_usable_by_keyboard(
    browser_page: Page, check_accessible: Callable, check_keyboard: Callable, screenshot: Callable
) -> None:
    browser_page.goto("/sign-in")
    check_accessible(browser_page)
    walk = check_keyboard(browser_page)
    assert any("#email" in reached for reached in walk.reached)
    screenshot(browser_page, "sign-in")


def test_refusal_says_the_same_whether_or_not_the_email_exists(
    live_gateway: LiveGateway, browser_page: Page, check_accessible: Callable, screenshot: Callable
) -> None:
    known = live_gateway.add("compliance")
    submit_sign_in(browser_page, known.email, "not-the-password-at-all")
    assert path_of(browser_page) == "/sign-in"
    wrong_password = browser_page.locator(PROBLEM).inner_text()
    check_accessible(browser_page)  # the page with its problem shown
    screenshot(browser_page, "sign-in-refused")

    submit_sign_in(browser_page, "nobody-here@example.org", "not-the-password-at-all")
    unknown_email = browser_page.locator(PROBLEM).inner_text()

    assert wrong_password == unknown_email
    assert browser_page.locator("[role=alert]").count() == 1  # one message, no per-field hints
    # The address typed stays in the field (so it can be corrected); the password does not.
    assert browser_page.input_value("#email") == "nobody-here@example.org"
    assert browser_page.input_value("#password") == ""


def test_a_locked_account_is_refused_even_with_the_right_password(
    live_gateway: LiveGateway, browser_page: Page, screenshot: Callable
) -> None:
    from gateway.core.people import MAX_FAILURES

    victim = live_gateway.add("coordinator", organization="grand-bend-isd")
    for _ in range(MAX_FAILURES):
        submit_sign_in(browser_page, victim.email, "a-wrong-password-again")
        assert path_of(browser_page) == "/sign-in"
    refused = browser_page.locator(PROBLEM).inner_text()

    submit_sign_in(browser_page, victim.email, victim.password)

    assert path_of(browser_page) == "/sign-in"
    assert browser_page.locator(PROBLEM).inner_text() == refused  # says "locked" without saying which
    assert "locked" in refused
    screenshot(browser_page, "sign-in-locked")
    live_gateway.clock.advance(minutes=16)  # the lock passes (and no other test used this person)
    submit_sign_in(browser_page, victim.email, victim.password)
    assert path_of(browser_page) == HOME_OF_ROLE["coordinator"]


@pytest.mark.parametrize("role", sorted(HOME_OF_ROLE))
def test_each_role_lands_on_its_own_page(
    role: str, live_gateway: LiveGateway, browser_page: Page, sign_in_as: Callable, screenshot: Callable
) -> None:
    account = live_gateway.account(role)
    sign_in_as(browser_page, account.email, account.password)
    assert path_of(browser_page) == HOME_OF_ROLE[role]
    browser_page.goto("/")  # the start page sends each role to its page again
    assert path_of(browser_page) == HOME_OF_ROLE[role]
    screenshot(browser_page, f"landing-{role}")


def test_sign_in_returns_to_the_page_asked_for(
    live_gateway: LiveGateway, browser_page: Page, sign_in_as: Callable
) -> None:
    account = live_gateway.account("family")
    browser_page.goto("/family")
    assert path_of(browser_page) == "/sign-in"
    assert browser_page.input_value("input[name=next]") == "/family"
    browser_page.fill("#email", account.email)
    browser_page.fill("#password", account.password)
    with browser_page.expect_navigation():
        browser_page.click("form:has(#password) [type=submit]")
    assert path_of(browser_page) == "/family"


def test_sign_out_ends_the_session(
    live_gateway: LiveGateway, browser_page: Page, sign_in_as: Callable, sign_out: Callable
) -> None:
    account = live_gateway.account("compliance")
    sign_in_as(browser_page, account.email, account.password)
    sign_out(browser_page)
    assert path_of(browser_page) == "/sign-in"
    assert browser_page.locator("form[action$='/sign-out']").count() == 0
    browser_page.goto(HOME_OF_ROLE["compliance"])
    assert path_of(browser_page) == "/sign-in"  # the cookie's session is gone on the server too


def test_sign_in_by_keyboard_alone(
    live_gateway: LiveGateway, browser_page: Page, keyboard_submit: Callable, check_accessible: Callable
) -> None:
    account = live_gateway.account("coordinator")
    browser_page.goto("/sign-in")
    keyboard_submit(browser_page, {"#email": account.email, "#password": account.password})
    assert path_of(browser_page) == HOME_OF_ROLE["coordinator"], main_text(browser_page)[:300]


def test_sign_in_by_keyboard_on_the_button(
    live_gateway: LiveGateway, browser_page: Page, keyboard_submit: Callable
) -> None:
    account = live_gateway.account("family")
    browser_page.goto("/sign-in")
    keyboard_submit(
        browser_page,
        {"#email": account.email, "#password": account.password},
        submit="form:has(#password) [type=submit]",
    )
    assert path_of(browser_page) == HOME_OF_ROLE["family"]
