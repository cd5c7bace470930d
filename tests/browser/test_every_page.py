"""The pages the page modules' own browser tests (test_compliance_page, test_coordinator_page,
test_family_page, test_sign_in) leave to the keyboard or never open, so that together every page
of every role is checked: axe-core finds no serious or critical violation, Tab reaches every
link, button and field with a visible focus, and a screenshot is saved (var/screenshots/
ROLE-PAGE.png). The error pages each role can meet are among them. Then the family's consent
granted by keyboard alone, and a student's accounting of disclosures downloaded as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from gateway.service.identity.people import read_request_for
from gateway.service.views.plans import read_plan
from tests.browser.browsing import main_text, sign_in_as, tab_to
from tests.browser.conftest import LiveGateway
from tests.helpers import LISA

UNKNOWN = "stu-" + "a" * 26


@dataclass(frozen=True)
class Visit:
    role: str
    name: str
    path: str
    status: int = 200


VISITS = [
    Visit("compliance", "accounting", f"/compliance/students/{LISA}/disclosures"),
    Visit("family", "children", "/family"),
    Visit("family", "consent-form", f"/family/{LISA}/consents/new"),
    Visit("family", "child-es", f"/family/{LISA}?lang=es"),
    # The error pages: an unknown (or not-your) student, and a page of another role.
    Visit("family", "not-found", f"/family/{UNKNOWN}", status=404),
    Visit("coordinator", "not-found", f"/students/{UNKNOWN}", status=404),
    Visit("family", "refused", "/compliance", status=403),
    Visit("compliance", "refused", "/students", status=403),
]


def signed_in(page: Page, live_gateway: LiveGateway, role: str) -> Page:
    account = live_gateway.account(role)
    sign_in_as(page, account.email, account.password)
    return page


@pytest.mark.parametrize("visit", VISITS, ids=[f"{v.role}-{v.name}" for v in VISITS])
def test_page_is_accessible_and_usable_by_keyboard(
    visit: Visit,
    live_gateway: LiveGateway,
    browser_page: Page,
    check_accessible: Callable,
    check_keyboard: Callable,
    screenshot: Callable,
) -> None:
    page = signed_in(browser_page, live_gateway, visit.role)
    response = page.goto(visit.path)
    assert response is not None
    assert response.status == visit.status, main_text(page)[:300]
    screenshot(page, f"{visit.role}-{visit.name}")
    check_accessible(page)
    walk = check_keyboard(page)
    assert walk.reached  # every page has at least its sign-out button and links


# ------------------------------------------------------------------------------ forms by keyboard


def test_family_grants_a_consent_by_keyboard(
    live_gateway: LiveGateway, browser_page: Page, screenshot: Callable
) -> None:
    page = signed_in(browser_page, live_gateway, "family")
    page.goto(f"/family/{LISA}/consents/new")
    choose_by_keyboard(page, "#grantor", "Riverside Community Health Center")
    choose_by_keyboard(page, "#recipient", "Grand Bend ISD")
    tab_to(page, "#categories input[type=checkbox]")
    page.keyboard.press("Space")
    choose_by_keyboard(page, "#purpose", page.locator("#purpose option").nth(1).inner_text())
    tab_to(page, "#until")
    page.keyboard.type("06302027")  # the date field's month, day and year, as typed in en-US
    tab_to(page, "form[action$='/consents'] [type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlparse(page.url).path == f"/family/{LISA}", main_text(page)[:400]
    assert "Your consent is recorded." in main_text(page)
    screenshot(page, "family-consent-granted")


def choose_by_keyboard(page: Page, select: str, label: str) -> None:
    """Focus a closed <select> with Tab and type the start of an option's words (type-ahead)."""
    tab_to(page, select)
    page.keyboard.type(label[:12])
    chosen = page.eval_on_selector(select, "el => el.options[el.selectedIndex].text")
    assert chosen.startswith(label[:12]), f"typing {label[:12]!r} in {select} chose {chosen!r}"


# ------------------------------------------------------------------------------------ CSV export


def test_compliance_student_accounting_csv_downloads(live_gateway: LiveGateway, browser_page: Page) -> None:
    coordinator = live_gateway.account("coordinator").person
    read_plan(live_gateway.rt, read_request_for(coordinator, LISA))  # the clinic's screening disclosed
    page = signed_in(browser_page, live_gateway, "compliance")
    page.goto(f"/compliance/students/{LISA}/disclosures")
    with page.expect_download() as downloading:
        page.locator("a[href*='format=csv']").first.click()
    download = downloading.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    header, *lines = rows
    assert download.suggested_filename.endswith(".csv")
    entries = [dict(zip(header, line, strict=True)) for line in lines]
    read = [e for e in entries if e["flow"] == "plan.read" and e["role"] == "coordinator"]
    assert [(r["recipient"], r["purpose"]) for r in read] == [("grand-bend-isd", "care-coordination")]
    assert "consent:" in read[0]["basis"]  # the clinic's screening went on a parent's consent
    assert "riverside-health" in read[0]["sources"].split(",")
    assert "Lisa" not in Path(download.path()).read_text(encoding="utf-8-sig")  # ids, never names
