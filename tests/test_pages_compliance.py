"""The compliance pages through the Flask client: the dashboard's figures are the services',
filters narrow, every figure's link lists exactly the entries it counted, CSV exports are
formula-safe, attached and audited, the HTML names nothing off the gateway, and only a signed-in
compliance officer gets in."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.core import dashboard as core
from gateway.core.people import COMPLIANCE, COORDINATOR, FAMILY
from gateway.service.compliance.accounting import accounting_for
from gateway.service.compliance.audit_access import OPERATOR_READER
from gateway.service.runtime import Runtime
from gateway.service.views import compliance_dashboard as service
from gateway.web import create_app
from tests.helpers import LISA
from tests.pages_helpers import person, signed_in
from tests.referral_world import audit_entries
from tests.test_compliance_dashboard import (
    DISTRICT,
    END,
    FOOD_BANK,
    START,
    _disclosure,
    seed_flows,
    write_entries,
)

PERIOD = f"from={START}&to={END}"
LINK = re.compile(r'href="(/compliance/entries\?[^"]+)"')
NUMBER_LINK = re.compile(r'<a href="(/compliance/entries\?[^"]+)">(\d+)<span')


def client_of(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    return seed_flows(rt)


@pytest.fixture
def officer(world: Runtime) -> FlaskClient:
    _person, email, password = person(world, COMPLIANCE)
    return signed_in(client_of(world), email, password)


def page(client: FlaskClient, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:800]
    return answer.get_data(as_text=True)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# -- the dashboard ------------------------------------------------------------------------------


def test_every_figure_on_the_page_is_the_services(world: Runtime, officer: FlaskClient) -> None:
    text = page(officer, f"/compliance?{PERIOD}")
    board = service.dashboard(world, OPERATOR_READER, start=START, end=END)
    totals = board.report["totals"]
    for name in ("disclosures", "denials", "emergencies"):
        assert re.search(rf'figure=[^"]*">{totals[name]}<span', text), name
    for row in board.report["flows"]:
        assert f"<td>{row['source']}</td><td>{row['recipient']}</td>" in text
    for row in board.by_category:
        assert f'<th scope="row">{row["category"] or "(none)"}</th>' in text
    for row in board.report["denials"]:
        assert f"({row['reason']})" in text
    assert "consent-0002-gbisd-to-northside" in text
    assert "gbisd-riverside-2026 v" in text  # the unsigned version
    assert "dis-3" in text  # the emergency
    for section in ("series", "categories", "purposes", "denials"):
        assert f'id="chart-{section}"' in text
        assert f'<title id="{section}-title">' in text
    assert '<title id="flows-title">' in text


def test_every_figure_links_to_exactly_the_entries_it_counts(world: Runtime, officer: FlaskClient) -> None:
    text = page(officer, f"/compliance?{PERIOD}")
    links = NUMBER_LINK.findall(text)
    assert len(links) > 15
    for href, number in links:
        drill = page(officer, html.unescape(href))
        assert re.search(rf"\b{number} entr(y|ies) counted\.", drill), href
        assert drill.count('<td class="number">') == int(number), href  # one seq cell per entry
        assert "status-verified" in drill


def test_the_organization_filter_narrows(world: Runtime, officer: FlaskClient) -> None:
    everyone = page(officer, f"/compliance?{PERIOD}")
    theirs = page(officer, f"/compliance?{PERIOD}&organization={FOOD_BANK}")
    assert f'<option value="{FOOD_BANK}" selected>' in theirs
    pairs = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", theirs)
    assert pairs
    assert all(FOOD_BANK in pair for pair in pairs)
    assert len(pairs) < len(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", everyone))
    assert all("organization=" + FOOD_BANK in html.unescape(h) for h, _n in NUMBER_LINK.findall(theirs))


def test_the_period_filter_narrows(officer: FlaskClient) -> None:
    text = page(officer, "/compliance?from=2026-10-01&to=2026-10-31")
    assert "No disclosure in this period." in text
    assert not NUMBER_LINK.findall(text.split('id="consents-h"')[0])


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("from=yesterday", "from"),
        ("from=2026-12-01&to=2026-11-01", "to"),
        ("format=csv&table=secrets", "table"),
    ],
)
def test_bad_filters_are_a_400_page(officer: FlaskClient, query: str, path: str) -> None:
    answer = officer.get(f"/compliance?{query}")
    assert answer.status_code == 400
    assert "<h1>" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ["figure=everything", "figure=consents&state=lost", "figure=denials&reason=whim"]
)
def test_bad_drill_downs_are_a_400_page(officer: FlaskClient, query: str) -> None:
    assert officer.get(f"/compliance/entries?{PERIOD}&{query}").status_code == 400


# -- drill-down and the student's accounting ---------------------------------------------------


def test_a_drill_down_lists_ids_codes_digests_and_their_status(world: Runtime, officer: FlaskClient) -> None:
    text = page(
        officer, f"/compliance/entries?{PERIOD}&figure=flows&source=riverside-health&recipient={DISTRICT}"
    )
    assert "The audit log verifies" in text
    assert "dis-1" in text
    assert "sha256:" in text
    assert f"/compliance/students/{LISA}/disclosures" in text
    assert "Verified: intact and covered by a signed tree head" in text


def test_the_students_accounting_is_the_services(world: Runtime, officer: FlaskClient) -> None:
    text = page(officer, f"/compliance/students/{LISA}/disclosures")
    accounting = accounting_for(world, OPERATOR_READER, LISA)
    assert accounting.rows
    for row in accounting.rows:
        assert f"<td>{row.recipient}</td><td>{row.recipient_role}</td><td>{row.purpose}</td>" in text
    for denial in accounting.denials:
        assert denial.decision_id in text
    found = officer.get(f"/compliance/students?student={LISA}")
    assert found.status_code == 303
    assert found.headers["Location"] == f"/compliance/students/{LISA}/disclosures"


def test_an_unknown_student_looks_like_one_with_nothing(officer: FlaskClient) -> None:
    text = page(officer, "/compliance/students/stu-nobody/disclosures")
    assert "No disclosure recorded for this student in this period." in text
    assert (
        page(officer, f"/compliance/students/{LISA}/disclosures?from=2030-01-01")
        .replace(LISA, "X")
        .replace("2030-01-01", "")
        .count("No disclosure recorded")
        == 1
    )


# -- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", service.TABLES)
def test_each_table_exports_as_an_attached_audited_csv(
    world: Runtime, officer: FlaskClient, table: str
) -> None:
    before = len(audit_entries(world, "audit.read"))
    answer = officer.get(f"/compliance?{PERIOD}&format=csv&table={table}")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert (
        answer.headers["Content-Disposition"]
        == f'attachment; filename="compliance-{table}-{START}-{END}.csv"'
    )
    header, rows = service.table(service.dashboard(world, OPERATOR_READER, start=START, end=END), table)
    assert rows_of(answer.get_data(as_text=True)) == [
        list(header),
        *(["" if c is None else str(c) for c in r] for r in rows),
    ]
    (read,) = audit_entries(world, "audit.read")[before : before + 1]
    assert read["details"]["what"] == "compliance.export"
    assert read["details"]["query"]["table"] == table


def test_drill_down_and_accounting_export_as_csv(world: Runtime, officer: FlaskClient) -> None:
    answer = officer.get(f"/compliance/entries?{PERIOD}&figure=denials&format=csv")
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    (header, *rows) = rows_of(answer.get_data(as_text=True))
    assert header == list(service.ENTRY_COLUMNS)
    assert rows
    assert {r[-1] for r in rows} == {core.VERIFIED}
    before = len(audit_entries(world, "audit.read"))
    answer = officer.get(f"/compliance/students/{LISA}/disclosures?format=csv")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="accounting-of-disclosures.csv"'
    assert [r["details"]["what"] for r in audit_entries(world, "audit.read")[before:]] == [
        "disclosures",
        "compliance.export",
    ]


def test_csv_cells_from_partners_never_run_as_formulas(world: Runtime, officer: FlaskClient) -> None:
    write_entries(
        world, [("disclosure", _disclosure(7, "=cmd|' /C calc'!A0", "@evil", "+purpose", ["-category"]))]
    )
    cells: list[str] = []
    for table in ("pairs", "categories", "purposes"):
        answer = officer.get(f"/compliance?{PERIOD}&format=csv&table={table}")
        cells += [c for row in rows_of(answer.get_data(as_text=True)) for c in row]
    answer = officer.get(f"/compliance/entries?{PERIOD}&figure=flows&purpose=%2Bpurpose&format=csv")
    cells += [c for row in rows_of(answer.get_data(as_text=True)) for c in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'@evil" in cells
    assert "'+purpose" in cells
    assert "'-category" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


# -- nothing off the gateway; who may come in ------------------------------------------------------


def test_no_page_names_anything_off_the_gateway(world: Runtime, officer: FlaskClient) -> None:
    urls = [
        f"/compliance?{PERIOD}",
        f"/compliance?from=2026-01-01&to={END}",
        f"/compliance/entries?{PERIOD}&figure=flows",
        f"/compliance/students/{LISA}/disclosures",
    ]
    for url in urls:
        text = page(officer, url)
        assert not re.findall(r"https?://", text), url
        assert "<script" not in text, url


ROUTES = (
    f"/compliance?{PERIOD}",
    f"/compliance/entries?{PERIOD}&figure=flows",
    f"/compliance/students/{LISA}/disclosures",
    f"/compliance?{PERIOD}&format=csv&table=pairs",
)


@pytest.mark.parametrize("url", ROUTES)
@pytest.mark.parametrize(
    ("role", "extra"), [(COORDINATOR, {"organization": DISTRICT}), (FAMILY, {"student_refs": (LISA,)})]
)
def test_other_roles_get_403(world: Runtime, url: str, role: str, extra: dict[str, Any]) -> None:
    _p, email, password = person(world, role, **extra)
    client = signed_in(client_of(world), email, password)
    before = len(audit_entries(world, "audit.read"))
    answer = client.get(url)
    assert answer.status_code == 403
    assert len(audit_entries(world, "audit.read")) == before


@pytest.mark.parametrize("url", ROUTES)
def test_anonymous_is_sent_to_sign_in(rt: Runtime, url: str) -> None:
    answer = client_of(rt).get(url)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/sign-in?next=/compliance")


def test_a_chart_is_rendered_once_for_the_same_numbers(world: Runtime, officer: FlaskClient) -> None:
    from gateway.web.pages import compliance_charts as pages

    pages.render_chart.cache_clear()
    first = page(officer, f"/compliance?{PERIOD}")
    again = page(officer, f"/compliance?{PERIOD}")
    info = pages.render_chart.cache_info()
    assert (info.misses, info.hits) == (4, 4)  # four charts, drawn for the first read only
    charts = re.findall(r'<svg id="chart-\w+".*?</svg>', first, re.DOTALL)
    assert len(charts) == 4
    assert charts == re.findall(r'<svg id="chart-\w+".*?</svg>', again, re.DOTALL)
