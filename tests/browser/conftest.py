"""Browser tests: Playwright (sync API) driving Debian's chromium against a live gateway.

Usage (a test module in tests/browser/)::

    def test_family_page(live_gateway, browser_page, sign_in_as, check_accessible, check_keyboard,
                         screenshot):
        family = live_gateway.account("family")          # or live_gateway.add("family", ...)
        sign_in_as(browser_page, family.email, family.password)
        browser_page.goto("/family")                      # URLs are relative to the live gateway
        check_accessible(browser_page)                    # axe-core: no serious or critical violation
        check_keyboard(browser_page)                      # Tab reaches every control, focus visible
        screenshot(browser_page, "family-plan")           # var/screenshots/family-plan.png

- ``live_gateway`` (one per test module): the demo world (tests/conftest.py ``Seeds``) copied into a
  database of the module's own, with the demo exchanges of ``DEMO_EXCHANGES`` received (Lisa,
  ``tests.helpers.LISA``, has records from the district and the clinic), served by waitress on a
  free port. ``.url``; ``.rt`` (the runtime, to add data through the services); ``.clock`` (a
  ``tests.conftest.Clock`` at START, shared by the module's tests: move it on only in a module of
  your own); ``.add(role, **kw)`` (a new person through tests/pages_helpers.person, as an
  ``Account`` with ``.person``, ``.email``, ``.password``); ``.account(role)`` (one person per
  role, made on first use and shared by the module: the coordinator works for grand-bend-isd,
  the family member is linked to Lisa). A test that locks an account out or changes what a
  shared person sees must use ``add``.
- ``browser`` (one per xdist worker) and ``browser_page`` (a new context, so no cookie carries
  over, per test); ``open_page()`` opens more, each in its own context (two people side by
  side). A page fails the test when the gateway answers 5xx, the page throws a JavaScript
  error, or it asks for anything off the gateway (no CDN).
- ``sign_in_as(page, email, password)``, ``sign_out(page)``, ``check_accessible(page)``,
  ``check_keyboard(page)`` (returns the ``KeyboardWalk``), ``keyboard_submit(page, {selector: text},
  submit=None)``, ``screenshot(page, name)``: the functions of tests/browser/browsing.py.

chromium is /usr/bin/chromium unless SPGW_CHROMIUM names another; when it is missing the tests
skip, except in CI (CI set), where they fail. ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, Route, sync_playwright

from gateway.artifacts import Artifacts
from gateway.service.runtime import Runtime
from tests.browser import browsing
from tests.conftest import Clock, Seeds, seeded_world
from tests.helpers import LISA, send_demo
from tests.http_server import serve_gateway

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# The demo exchanges every live gateway has received: the district's three students, their
# enrollments and attendance, the clinic's patient (linked to Lisa) then its screening (so it
# lands without a replay), and the district's link of Lisa's mother (who signed the consents).
DEMO_EXCHANGES = ("01", "02", "03", "05", "04", "08")
TIMEOUT_MS = 10_000
COORDINATOR_ORG = "grand-bend-isd"


@dataclass(frozen=True, kw_only=True)
class Account:
    person: Any  # gateway.core.people.Person
    email: str
    password: str


@dataclass(kw_only=True)
class LiveGateway:
    url: str
    rt: Runtime
    clock: Clock
    accounts: dict[str, Account] = field(default_factory=dict)

    def add(self, role: str, **kw: Any) -> Account:
        """A new person of ``role`` (keywords as tests/pages_helpers.person takes them)."""
        from tests.pages_helpers import person  # the lead's helper: people are added as the CLI would

        found, email, password = person(self.rt, role, **kw)
        return Account(person=found, email=email, password=password)

    def account(self, role: str) -> Account:
        """The module's shared person of ``role``, made on first use."""
        if role not in self.accounts:
            self.accounts[role] = self.add(role, **DEFAULT_PEOPLE.get(role, {}))
        return self.accounts[role]


# What the shared people are: the coordinator at the district, the family member Lisa's.
DEFAULT_PEOPLE: dict[str, dict[str, Any]] = {
    "coordinator": {"organization": COORDINATOR_ORG},
    "family": {"student_refs": (LISA,)},
}


def chromium_path() -> Path:
    return Path(os.environ.get("SPGW_CHROMIUM") or DEFAULT_CHROMIUM)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless chromium for this worker (Playwright's own browsers are never downloaded)."""
    path = chromium_path()
    if not path.is_file():
        message = f"chromium not found at {path} (install Debian's chromium, or set SPGW_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {message}: the browser tests cannot run", pytrace=False)
        pytest.skip(message)
    # Root cannot use chromium's sandbox (containers, CI); an ordinary user keeps it.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(path), headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def live_gateway(
    tmp_path_factory: pytest.TempPathFactory, seeds: Seeds, artifacts: Artifacts
) -> Iterator[LiveGateway]:
    """The demo world in a database of this module's own, served over HTTP."""
    clock = Clock()
    with seeded_world(tmp_path_factory.mktemp("live"), seeds, artifacts, clock) as rt:
        for prefix in DEMO_EXCHANGES:
            send_demo(rt, prefix)
        # Four threads: a page and its stylesheet, script and images are asked for together.
        with serve_gateway(rt, threads=4) as base:
            yield LiveGateway(url=base, rt=rt, clock=clock)


@dataclass
class PageProblems:
    """What went wrong on a page that a test would not otherwise see."""

    server_errors: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    off_site: list[str] = field(default_factory=list)

    def server_error(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} to {response.request.method} {response.url}")

    def report(self) -> str:
        lines = [f"gateway answered {e}" for e in self.server_errors]
        lines += [f"JavaScript error: {e}" for e in self.script_errors]
        lines += [f"asked for a file off the gateway: {u}" for u in self.off_site]
        return "\n".join(lines)


@pytest.fixture
def open_page(browser: Browser, live_gateway: LiveGateway) -> Iterator[Callable[[], Page]]:
    """Opens pages, each in a context of its own (two people side by side), closed after the test."""
    contexts: list[BrowserContext] = []
    problems = PageProblems()

    def open_one() -> Page:
        context = browser.new_context(
            base_url=live_gateway.url, locale="en-US", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        watch(context, live_gateway.url, problems)
        page = context.new_page()
        page.on("response", lambda r: problems.server_error(r))
        page.on("pageerror", lambda error: problems.script_errors.append(str(error)))
        return page

    yield open_one
    for context in contexts:
        context.close()
    if problems.report():
        pytest.fail(problems.report(), pytrace=False)


def watch(context: BrowserContext, own_url: str, problems: PageProblems) -> None:
    """Refuse (and note) every request off the gateway's own origin (data: URLs never reach a route)."""
    own = re.escape(own_url.rstrip("/"))

    def refuse(route: Route, request: Request) -> None:
        problems.off_site.append(request.url)
        route.abort()

    context.route(re.compile(rf"^(?!{own}(/|$))"), refuse)


@pytest.fixture
def browser_page(open_page: Callable[[], Page]) -> Page:
    """A fresh browser context (no cookies) and page whose relative URLs go to the live gateway."""
    return open_page()


@pytest.fixture
def sign_in_as() -> Callable[..., None]:
    return browsing.sign_in_as


@pytest.fixture
def sign_out() -> Callable[[Page], None]:
    return browsing.sign_out


@pytest.fixture
def check_accessible() -> Callable[[Page], None]:
    return browsing.check_accessible


@pytest.fixture
def check_keyboard() -> Callable[[Page], browsing.KeyboardWalk]:
    return browsing.check_keyboard


@pytest.fixture
def keyboard_submit() -> Callable[..., None]:
    return browsing.keyboard_submit


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    return browsing.screenshot
