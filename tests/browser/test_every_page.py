"""Every page of every role in a real browser: axe-core finds no serious or critical violation,
Tab reaches every link, button and field with a visible focus, and a screenshot is saved
(var/screenshots/ROLE-PAGE.png). Then the pages' forms submitted by keyboard alone, and the
compliance officer's CSV export downloaded."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from tests.browser.browsing import main_text, sign_in_as, tab_to
from tests.browser.conftest import LiveGateway
from tests.helpers import LISA

UNKNOWN = "stu-" + "a" * 26


def goto(path: str) -> Callable[[Page], None]:
    def go(page: Page) -> None:
        response = page.goto(path)
        assert response is not None
        assert response.status < 500

    return go


def follow_first(start: str, href_prefix: str) -> Callable[[Page], None]:
    """Open ``start``, then the first link whose address begins with ``href_prefix``."""

    def go(page: Page) -> None:
        page.goto(start)
        link = page.locator(f"a[href^='{href_prefix}']").first
        with page.expect_navigation():
            link.click()

    return go


def refused_consent_form(page: Page) -> None:
    """The consent form sent back with a problem the server finds (a grantor sharing with itself)."""
    page.goto(f"/family/{LISA}/consents/new")
    page.select_option("#grantor", "riverside-health")
    page.select_option("#recipient", "riverside-health")
    page.locator("#categories input[type=checkbox]").first.check()
    page.select_option("#purpose", index=1)
    page.fill("#until", "2027-06-30")
    with page.expect_navigation():
        page.click("form[action$='/consents'] [type=submit]")
    assert page.locator("#problems").is_visible()


@dataclass(frozen=True)
class Visit:
    role: str
    name: str
    open: Callable[[Page], None]
    status: int = 200


VISITS = [
    Visit("compliance", "dashboard", goto("/compliance")),
    Visit("compliance", "entries", follow_first("/compliance", "/compliance/entries")),
    Visit("compliance", "disclosures", goto(f"/compliance/students/{LISA}/disclosures")),
    Visit("coordinator", "students", goto("/students")),
    Visit("coordinator", "plan", goto(f"/students/{LISA}")),
    Visit("coordinator", "services", follow_first(f"/students/{LISA}", f"/students/{LISA}/needs/")),
    Visit("family", "children", goto("/family")),
    Visit("family", "child", goto(f"/family/{LISA}")),
    Visit("family", "child-es", goto(f"/family/{LISA}?lang=es")),
    Visit("family", "consent-form", goto(f"/family/{LISA}/consents/new")),
    Visit("family", "consent-form-refused", refused_consent_form, status=400),
    Visit("family", "not-found", goto(f"/family/{UNKNOWN}"), status=404),
    Visit("family", "refused", goto("/compliance"), status=403),
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
    statuses: list[int] = []
    page.on(
        "response", lambda r: statuses.append(r.status) if r.request.resource_type == "document" else None
    )
    visit.open(page)
    assert statuses[-1] == visit.status, main_text(page)[:300]
    screenshot(page, f"{visit.role}-{visit.name}")
    check_accessible(page)
    walk = check_keyboard(page)
    assert walk.reached  # every page has at least its sign-out button and links


# ------------------------------------------------------------------------------ forms by keyboard


def test_coordinator_refers_by_keyboard(live_gateway: LiveGateway, browser_page: Page) -> None:
    page = signed_in(browser_page, live_gateway, "coordinator")
    page.goto(f"/students/{LISA}")
    tab_to(page, "form[action$='/referrals'] [type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlparse(page.url).path == f"/students/{LISA}"
    assert "referred=" in page.url, main_text(page)[:300]


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


def test_compliance_csv_export_downloads(live_gateway: LiveGateway, browser_page: Page) -> None:
    page = signed_in(browser_page, live_gateway, "compliance")
    page.goto("/compliance")
    link = page.locator("a[href*='format=csv'][href*='table=purposes']")
    with page.expect_download() as downloading:
        link.click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert len(rows) >= 2  # a header and the purposes the demo's reads and ingests had
    assert "care-coordination" in {cell for row in rows[1:] for cell in row}
    for row in rows:
        # No cell a spreadsheet would run as a formula.
        assert not [cell for cell in row if cell[:1] in ("=", "+", "@")], row


def test_compliance_student_accounting_csv_downloads(live_gateway: LiveGateway, browser_page: Page) -> None:
    page = signed_in(browser_page, live_gateway, "compliance")
    page.goto(f"/compliance/students/{LISA}/disclosures")
    with page.expect_download() as downloading:
        page.locator("a[href*='format=csv']").first.click()
    download = downloading.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows
    assert rows[0]  # a header
