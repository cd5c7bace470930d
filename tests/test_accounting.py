"""The accounting of disclosures: summarised repeats, internal rows left out of the family copy,
date ranges, denials for the officer only, partner visibility (an unknown student answers as one
with nothing visible), and a CSV no spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from click.testing import CliRunner

from gateway.core import accounting as core
from gateway.core.disclosure import INBOUND, PLAN_READ, REFERRAL, DisclosureRecord
from gateway.errors import NotFound
from gateway.service.compliance.accounting import accounting_for
from gateway.service.compliance.audit_access import OPERATOR_READER, AuditReader
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from tests.conftest import Clock
from tests.helpers import LISA, send_demo

DISTRICT, FOOD_BANK, CLINIC = "grand-bend-isd", "northside-food-bank", "riverside-health"


def record(**changes: object) -> DisclosureRecord:
    base: dict[str, object] = {
        "disclosure_id": "d1",
        "flow": PLAN_READ,
        "sources": (CLINIC,),
        "recipient": DISTRICT,
        "recipient_role": "coordinator",
        "actor": "t",
        "purpose": "care-coordination",
        "legal_basis": ("consent:c1",),
        "categories": ("identity",),
        "elements": ("e1", "e2"),
        "record_count": 2,
        "payload_digest": "sha256:x",
        "redactions": (),
        "agreements": ("a@1",),
        "consent_ids": ("c1",),
        "decision_ids": ("dec-1",),
        "policy_version": "p1",
    }
    return DisclosureRecord(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "internal"),
    [
        ({}, False),
        ({"legal_basis": ("ferpa:34 CFR 99.31(a)(1)(i)(A)",)}, True),  # school official
        ({"legal_basis": ("hipaa:45 CFR 164.506(c)(2)",)}, True),  # treatment
        ({"purpose": "family-access"}, True),
        ({"sources": (DISTRICT,)}, True),  # its own record
        ({"sources": (DISTRICT, CLINIC)}, False),  # someone else's records too
        ({"flow": INBOUND}, True),
        ({"flow": REFERRAL, "recipient": FOOD_BANK}, False),
    ],
)
def test_which_rows_are_internal(changes: dict[str, object], internal: bool) -> None:
    assert core.is_internal(record(**changes)) is internal


def test_repeats_are_summarised_first_count_last() -> None:
    timed = [
        core.Timed(recorded_at=f"2026-09-0{day}T10:00:00+00:00", record=record(disclosure_id=f"d{day}"))
        for day in (3, 1, 2)
    ]
    acc = core.build(LISA, timed)
    (row,) = acc.rows
    assert (row.first_date, row.last_date, row.count) == ("2026-09-01", "2026-09-03", 3)
    assert row.disclosure_ids == ("d1", "d2", "d3")


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (None, None, 3),
        (dt.date(2026, 9, 2), None, 2),
        (None, dt.date(2026, 9, 2), 2),  # inclusive: the whole last day
        (dt.date(2026, 9, 2), dt.date(2026, 9, 2), 1),
        (dt.date(2026, 10, 1), None, 0),
    ],
)
def test_date_range_is_inclusive(start: dt.date | None, end: dt.date | None, count: int) -> None:
    timed = [core.Timed(recorded_at=f"2026-09-0{d}T23:59:59+00:00", record=record()) for d in (1, 2, 3)]
    acc = core.build(LISA, timed, start=start, end=end)
    assert sum(r.count for r in acc.rows) == count


def test_family_copy_leaves_out_internal_rows_and_denials() -> None:
    timed = [
        core.Timed(recorded_at="2026-09-01T00:00:00+00:00", record=record()),
        core.Timed(recorded_at="2026-09-01T00:00:00+00:00", record=record(flow=INBOUND)),
    ]
    officer, family = core.build(LISA, timed), core.build(LISA, timed, family=True)
    assert [r.internal for r in officer.rows] == [False, True]
    assert [r.internal for r in family.rows] == [False]
    assert family.denials == ()


@pytest.mark.parametrize("value", ["=HYPERLINK(1)", "@SUM(A1)", "+1", "-1", "\tx", "\rx"])
def test_csv_cells_never_start_a_formula(value: str) -> None:
    timed = [core.Timed(recorded_at="2026-09-01T00:00:00+00:00", record=record(recipient=value))]
    rows = list(csv.reader(io.StringIO(core.to_csv(core.build(LISA, timed)), newline="")))
    assert rows[1][3] == "'" + value


# -- against the service ---------------------------------------------------------------------


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    for prefix in ("01", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


def read(rt: Runtime, org: str, role: str, purpose: str) -> tuple[str, ...]:
    request = ReadRequest(student_id=LISA, organization_id=org, actor="t", role=role, purpose=purpose)
    try:
        return read_plan(rt, request).decision_ids
    except NotFound:
        return ()


def test_three_reads_for_one_purpose_are_one_row_of_three(lisa: Runtime, clock: Clock) -> None:
    days = []
    for _ in range(3):
        days.append(clock.now.date().isoformat())
        assert read(lisa, FOOD_BANK, "case-worker", "referral-fulfillment")
        clock.advance(days=1)
    acc = accounting_for(lisa, OPERATOR_READER, LISA)
    (row,) = [r for r in acc.rows if r.recipient == FOOD_BANK]
    assert all(r.internal for r in acc.rows if r.flow == INBOUND)
    assert (row.count, row.first_date, row.last_date) == (3, days[0], days[-1])
    assert row.purpose == "referral-fulfillment"
    assert row.consent_ids


def test_a_read_that_showed_nothing_writes_decisions_only(lisa: Runtime) -> None:
    assert read(lisa, FOOD_BANK, "case-worker", "research") == ()
    acc = accounting_for(lisa, OPERATOR_READER, LISA)
    assert [r.flow for r in acc.rows] == [INBOUND]  # only what the partners sent the gateway
    assert {d.purpose for d in acc.denials} == {"research"}


def partner(org: str) -> AuditReader:
    return AuditReader(organization_id=org, client_id="c", role="partner")


def test_a_partner_sees_only_its_own_disclosures_and_denials(lisa: Runtime) -> None:
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    read(lisa, FOOD_BANK, "case-worker", "research")
    mine = accounting_for(lisa, partner(FOOD_BANK), LISA)
    assert mine.rows == ()
    assert {d.recipient for d in mine.denials} == {FOOD_BANK}
    clinic = accounting_for(lisa, partner(CLINIC), LISA)
    assert {r.recipient for r in clinic.rows} == {DISTRICT, "gateway"}  # its records went there


def test_an_unknown_student_answers_as_one_with_nothing_visible(lisa: Runtime) -> None:
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    outsider = partner("nobody-org")
    known = accounting_for(lisa, outsider, LISA).to_dict()
    unknown = accounting_for(lisa, outsider, "stu-unknown").to_dict()
    assert {**known, "student": ""} == {**unknown, "student": ""}


def test_cli_prints_table_json_and_csv(lisa: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli import main

    monkeypatch.setenv("GATEWAY_DATABASE_URL", lisa.settings.database_url)
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    home = ["--home", str(lisa.settings.home)]
    runner = CliRunner()
    table = runner.invoke(main, [*home, "audit", "disclosures", LISA])
    assert table.exit_code == 0, table.output
    assert DISTRICT in table.output
    assert "care-coordination" in table.output
    as_csv = runner.invoke(main, [*home, "audit", "disclosures", LISA, "--csv", "--from", "2000-01-01"])
    assert next(iter(csv.reader(io.StringIO(as_csv.output))))[0] == "date"
    as_json = runner.invoke(main, [*home, "audit", "disclosures", LISA, "--json", "--family"])
    assert '"family": true' in as_json.output
    both = runner.invoke(main, [*home, "audit", "disclosures", LISA, "--csv", "--json"])
    assert both.exit_code == 2
