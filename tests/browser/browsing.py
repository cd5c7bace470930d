"""What the browser tests do to a page: sign in, run axe-core, walk it by keyboard, take a
screenshot. Plain functions over a Playwright ``Page``; tests/browser/conftest.py hands them out
as fixtures (see the usage note there)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import Page

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
AXE = PROJECT_ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
BLOCKING = ("serious", "critical")  # axe impacts a page must not have


def sign_in_as(page: Page, email: str, password: str, *, path: str = "/sign-in") -> None:
    """Sign in through the sign-in form, as a person would, and wait for the page it leads to.
    Fails (with the page's text) when the form comes back instead: a wrong password, a lock-out."""
    page.goto(path)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()
    if urlparse(page.url).path == "/sign-in":
        raise AssertionError(f"sign-in did not go through; the page says: {main_text(page)[:300]!r}")


def sign_out(page: Page) -> None:
    """Press the page's sign-out button (a POST form, with its CSRF field)."""
    with page.expect_navigation():
        page.locator("form[action$='/sign-out'] [type=submit]").click()


def main_text(page: Page) -> str:
    """The visible text of the page's main region (or of the body when it has none)."""
    main = page.locator("main")
    target = main.first if main.count() else page.locator("body")
    return re.sub(r"\s+", " ", target.inner_text()).strip()


# ----------------------------------------------------------------------------------------- axe-core


def axe_violations(page: Page, *, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of the given impacts."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol rather than added as a <script>: the pages' CSP
        # (script-src 'self') rightly refuses an inline script, and must not be loosened for tests.
        page.evaluate(f"{_axe_source()}\n;typeof window.axe")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary || ''})),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def check_accessible(page: Page) -> None:
    """Fail with a readable list when axe-core finds a serious or critical violation."""
    violations = axe_violations(page)
    if violations:
        raise AssertionError(f"axe-core on {page.url}:\n" + describe_violations(violations))


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    at {node['target']}: {summary[:300]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- screenshots


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as var/screenshots/NAME.png (the folder git ignores) and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ---------------------------------------------------------------------------------------- keyboard

# What a keyboard user must be able to reach: what the browser puts in the tab order by default,
# and anything given a non-negative tabindex. Hidden and disabled controls are left out.
FOCUSABLE = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])"
)

_DESCRIBE = """el => {
    if (!el || el === document.body) return '';
    const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
    const name = (el.getAttribute('aria-label') || label || el.innerText || el.getAttribute('href') || '')
                 .trim().replace(/\\s+/g, ' ').slice(0, 60);
    return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.name ? '[name=' + el.name + ']' : ''}`
           + (name ? ` "${name}"` : '');
}"""

_FOCUS_VISIBLE = """el => {
    const s = getComputedStyle(el);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
    return outline || s.boxShadow !== 'none';
}"""

# Left out: what no one can see or reach yet (hidden, disabled, inert, inside a closed <details>
# but for its own summary); the walk checks what is on the page as it is shown.
_TARGETS = """selector => Array.from(document.querySelectorAll(selector)).filter(el => {
    if (el.disabled || el.closest('[inert]')) return false;
    const closed = el.closest('details:not([open])');
    if (closed && el.parentElement !== closed) return false;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none') return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
})"""


@dataclass(frozen=True, kw_only=True)
class KeyboardWalk:
    """What pressing Tab from the top of a page reached, in order, and what it did not."""

    reached: tuple[str, ...]
    unreached: tuple[str, ...]
    no_visible_focus: tuple[str, ...]


def walk_by_keyboard(page: Page, *, max_presses: int | None = None) -> KeyboardWalk:
    """Press Tab from the top of the page until focus comes back round (or leaves the page),
    noting every element focused and whether it showed a focus indicator."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    page.evaluate(
        "s => Array.from(document.querySelectorAll(s)).forEach((el, i) => el.dataset.spgwKb = String(i))",
        FOCUSABLE,
    )
    targets = page.evaluate_handle(_TARGETS, FOCUSABLE)
    wanted = {
        page.evaluate("el => el.dataset.spgwKb", h): page.evaluate(_DESCRIBE, h) for h in _handles(targets)
    }
    reached: list[str] = []
    seen: set[str] = set()
    no_focus: list[str] = []
    blanks, previous = 0, ""
    for _ in range(max_presses or 3 * len(wanted) + 10):
        page.keyboard.press("Tab")
        key = page.evaluate("() => document.activeElement && document.activeElement.dataset.spgwKb || ''")
        if not key:
            # Past the last element focus leaves the document for a press, then comes round to
            # the first; a page with nothing focusable never comes back.
            blanks += 1
            if blanks > 3:
                break
            continue
        blanks = 0
        if key == previous:
            continue  # Tab moved inside one control (a date field's month, day and year)
        previous = key
        if key in seen:
            break  # round the whole page, wherever the walk started
        seen.add(key)
        label = page.evaluate(f"() => ({_DESCRIBE})(document.activeElement)")
        reached.append(label)
        if not page.evaluate(f"() => ({_FOCUS_VISIBLE})(document.activeElement)"):
            no_focus.append(label)
    unreached = tuple(label for key, label in wanted.items() if key not in seen)
    return KeyboardWalk(reached=tuple(reached), unreached=unreached, no_visible_focus=tuple(no_focus))


def _handles(array_handle: Any) -> list[Any]:
    properties = array_handle.get_properties()
    return [p.as_element() for p in properties.values() if p.as_element() is not None]


def check_keyboard(page: Page) -> KeyboardWalk:
    """Fail unless Tab reaches every link, button and field of the page, each with a visible focus."""
    walk = walk_by_keyboard(page)
    problems = []
    if walk.unreached:
        problems.append("not reachable with Tab: " + "; ".join(walk.unreached))
    if walk.no_visible_focus:
        problems.append("no visible focus indicator: " + "; ".join(walk.no_visible_focus))
    if problems:
        raise AssertionError(f"keyboard on {page.url}:\n- " + "\n- ".join(problems))
    return walk


def tab_to(page: Page, selector: str, *, max_presses: int = 100) -> None:
    """Press Tab until the element ``selector`` names has the focus (fails when it never does)."""
    target = page.locator(selector).first.element_handle()
    for _ in range(max_presses):
        if page.evaluate("el => document.activeElement === el", target):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector} on {page.url}")


def keyboard_submit(page: Page, fields: dict[str, str], *, submit: str | None = None) -> None:
    """Fill a form with the keyboard alone and submit it: Tab to each field (``{selector: text}``,
    in page order), type, then press Enter in the last field, or Tab to ``submit`` and press
    Enter on it. Waits for the page the form leads to."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    for selector, value in fields.items():
        tab_to(page, selector)
        page.keyboard.type(value)
    if submit is not None:
        tab_to(page, submit)
    with page.expect_navigation():
        page.keyboard.press("Enter")
