"""The compliance officer's pages in a real browser: signed in as compliance, the dashboard, a
drill-down and a student's accounting are accessible (axe-core) and usable by keyboard, filters
work from the form, and a table downloads as a formula-safe CSV. Screenshots of each page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import LiveGateway
from tests.helpers import LISA
from tests.test_compliance_dashboard import CLINIC, DISTRICT, _denial, _disclosure, write_entries


@pytest.fixture(scope="module")
def flows(live_gateway: LiveGateway) -> LiveGateway:
    """On top of the demo exchanges: a read, an emergency disclosure, a denial, and a disclosure
    whose purpose a spreadsheet would take for a formula."""
    write_entries(
        live_gateway.rt,
        [
            ("disclosure", _disclosure(1, CLINIC, DISTRICT, "care-coordination", ["health"], count=2)),
            (
                "disclosure",
                _disclosure(2, CLINIC, DISTRICT, "emergency", ["health"], threat="sha256:" + "1" * 64),
            ),
            ("disclosure", _disclosure(3, DISTRICT, CLINIC, '=HYPERLINK("x")', ["identity"])),
            ("decision", _denial()),
        ],
    )
    return live_gateway


def signed_in_officer(flows: LiveGateway, page: Page, sign_in_as: Callable) -> None:
    officer = flows.account("compliance")
    sign_in_as(page, officer.email, officer.password)


def test_dashboard_is_accessible_usable_by_keyboard_and_drills_down(
    flows: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    check_accessible: Callable,
    check_keyboard: Callable,
    screenshot: Callable,
) -> None:
    signed_in_officer(flows, browser_page, sign_in_as)
    assert urlparse(browser_page.url).path == "/compliance"
    assert browser_page.locator("h1").inner_text() == "Compliance"
    assert browser_page.locator("svg[role=img]").count() >= 5  # four pygal charts and the flow diagram
    check_accessible(browser_page)
    check_keyboard(browser_page)
    screenshot(browser_page, "compliance-dashboard")

    denials = browser_page.locator(".totals a").nth(1)
    expected = denials.inner_text().split()[0]
    with browser_page.expect_navigation():
        denials.click()
    assert urlparse(browser_page.url).path == "/compliance/entries"
    assert re.search(rf"\b{expected} entr(y|ies) counted\.", browser_page.locator("main").inner_text())
    assert browser_page.locator("td.status-verified").count() == int(expected)
    check_accessible(browser_page)
    check_keyboard(browser_page)
    screenshot(browser_page, "compliance-entries")


def test_filters_and_a_students_accounting_by_keyboard(
    flows: LiveGateway,
    browser_page: Page,
    sign_in_as: Callable,
    keyboard_submit: Callable,
    check_accessible: Callable,
    screenshot: Callable,
) -> None:
    signed_in_officer(flows, browser_page, sign_in_as)
    browser_page.select_option("#organization", CLINIC)
    keyboard_submit(browser_page, {}, submit="form.filters [type=submit]")
    assert parse_qs(urlparse(browser_page.url).query)["organization"] == [CLINIC]
    assert browser_page.locator("#organization").input_value() == CLINIC
    screenshot(browser_page, "compliance-dashboard-one-organization")

    keyboard_submit(browser_page, {"#student": LISA})
    assert urlparse(browser_page.url).path == f"/compliance/students/{LISA}/disclosures"
    text = browser_page.locator("main").inner_text()
    assert "Accounting of disclosures for" in text
    assert DISTRICT in text
    check_accessible(browser_page)
    screenshot(browser_page, "compliance-accounting")


def test_a_table_downloads_as_a_formula_safe_csv(
    flows: LiveGateway, browser_page: Page, sign_in_as: Callable
) -> None:
    signed_in_officer(flows, browser_page, sign_in_as)
    with browser_page.expect_download() as caught:
        browser_page.locator("a[href*='table=purposes']").click()
    download = caught.value
    assert download.suggested_filename.startswith("compliance-purposes-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["purpose", "disclosures", "records"]
    purposes = [r[0] for r in rows[1:]]
    assert '\'=HYPERLINK("x")' in purposes
    assert "care-coordination" in purposes
