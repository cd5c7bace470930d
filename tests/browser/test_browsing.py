"""The browser-test helpers themselves, on small fixed documents: a check that never fails
proves nothing about the pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser import browsing

GOOD = """<!doctype html><html lang="en"><head><title>Good</title></head><body>
<main><h1>Good</h1><a href="#one">One</a>
<form action="#" method="get"><label for="q">Search</label><input id="q" name="q">
<button type="submit">Go</button></form>
<details><summary>More</summary><a href="#inside">Inside</a></details></main></body></html>"""

# An image without a text alternative is a critical violation for axe; a control that Tab skips
# and one whose focus ring was removed are what a keyboard user cannot use.
BAD = """<!doctype html><html lang="en"><head><title>Bad</title>
<style>.bare:focus { outline: none; box-shadow: none; }</style></head><body>
<main><h1>Bad</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button tabindex="-1">Skipped</button><a class="bare" href="#x">Bare</a></main></body></html>"""


@pytest.fixture
def page(browser_page: Page) -> Page:
    return browser_page


def test_a_good_page_passes_axe_and_keyboard(page: Page) -> None:
    page.set_content(GOOD)
    browsing.check_accessible(page)
    walk = browsing.check_keyboard(page)
    assert walk.reached == ('a "One"', 'input#q[name=q] "Search"', 'button "Go"', 'summary "More"')


def test_axe_names_the_violation_and_where(page: Page) -> None:
    page.set_content(BAD)
    with pytest.raises(AssertionError, match=r"\[critical\] image-alt: .*\n    at img"):
        browsing.check_accessible(page)


def test_keyboard_walk_finds_skipped_controls_and_missing_focus(page: Page) -> None:
    page.set_content(BAD)
    walk = browsing.walk_by_keyboard(page)
    assert walk.unreached == ('button "Skipped"',)
    assert walk.no_visible_focus == ('a "Bare"',)
    with pytest.raises(AssertionError, match="not reachable with Tab"):
        browsing.check_keyboard(page)


def test_screenshot_is_a_png_under_var(page: Page) -> None:
    page.set_content(GOOD)
    path = browsing.screenshot(page, "browsing self test")
    assert path == browsing.SCREENSHOTS / "browsing-self-test.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
