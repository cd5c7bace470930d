"""The compliance dashboard's service and core: every figure equals what the flow report and the
retention report compute, the organization and period filters narrow, each drill-down lists
exactly the entries its figure counted with their verification status, CSV cells never run as
formulas, and only readers who see the whole audit may read it (each read audited)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools

import pytest
from sqlalchemy import text

from gateway.core import dashboard as core
from gateway.core import flow_report as fr
from gateway.core.disclosure import DecisionRecord, DisclosureRecord
from gateway.errors import AccessDenied, InputInvalid
from gateway.service.compliance import audit
from gateway.service.compliance.audit_access import OPERATOR_READER, AuditReader
from gateway.service.compliance.reports import flow_report, retention_report
from gateway.service.compliance.retention import run_retention
from gateway.service.policy import agreements
from gateway.service.policy.agreement_views import Acting
from gateway.service.policy.consents import revoke_consent
from gateway.service.runtime import Runtime
from gateway.service.views import compliance_dashboard as service
from gateway.storage import agreement_store
from tests.helpers import LISA, coordinator_view, send_demo
from tests.referral_world import audit_entries

DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
OFFICER = AuditReader(organization_id="", client_id="person-1", role="compliance")
FOOD_BANK_READER = AuditReader(organization_id=FOOD_BANK, client_id="x", role="partner")
SECTIONS = ("totals", "flows", "denials", "consents", "agreements", "emergencies")
D = dt.date


def _disclosure(
    i: int,
    source: str,
    recipient: str,
    purpose: str,
    cats: list[str],
    *,
    count: int = 1,
    threat: str | None = None,
) -> DisclosureRecord:
    return DisclosureRecord(
        disclosure_id=f"dis-{i}",
        flow="plan.read",
        sources=(source,),
        recipient=recipient,
        recipient_role="coordinator",
        actor="t-coord",
        purpose=purpose,
        legal_basis=("ferpa-99.31(a)(1)",),
        categories=tuple(cats),
        elements=("el-1",),
        record_count=count,
        payload_digest="sha256:" + "0" * 64,
        redactions=(),
        agreements=("gbisd-riverside-2026@1",),
        consent_ids=(),
        decision_ids=(f"dec-{i}",),
        policy_version="v",
        emergency_threat_digest=threat,
    )


def _denial() -> DecisionRecord:
    reason = (
        "no active agreement lets 'northside-food-bank' receive category 'health' from 'riverside-health'"
    )
    return DecisionRecord(
        decision_id="dec-deny",
        effect="deny",
        action="read",
        source=CLINIC,
        recipient=FOOD_BANK,
        role="case-worker",
        purpose="research",
        categories=("health",),
        basis=(),
        obligations=(),
        rules=(),
        reasons=(reason,),
        policy_version="v",
        agreements=(),
    )


def write_entries(rt: Runtime, drafts: list[tuple[str, DisclosureRecord | DecisionRecord]]) -> None:
    with rt.sessions.begin() as session:
        audit.record(
            session,
            rt,
            [audit.AuditDraft(kind=k, actor="t", subject=LISA, details=r.to_details()) for k, r in drafts],
        )


def seed_flows(rt: Runtime) -> Runtime:
    """Real flows (the demo exchanges, a coordinator's read), entries in the contract's shape (an
    emergency disclosure, a denial), a revoked consent and a proposed, unsigned agreement version."""
    for prefix in ("01", "02", "05", "08"):
        send_demo(rt, prefix)
    coordinator_view(rt)
    write_entries(
        rt,
        [
            (
                "disclosure",
                _disclosure(1, CLINIC, DISTRICT, "care-coordination", ["health", "identity"], count=3),
            ),
            ("disclosure", _disclosure(2, DISTRICT, FOOD_BANK, "referral-fulfillment", ["identity"])),
            (
                "disclosure",
                _disclosure(3, CLINIC, DISTRICT, "emergency", ["health"], threat="sha256:" + "1" * 64),
            ),
            ("decision", _denial()),
        ],
    )
    revoke_consent(rt, "consent-0002-gbisd-to-northside", by=DISTRICT)
    with rt.sessions() as session:
        (doc,) = [d for d in agreement_store.agreement_docs(session) if d["id"] == "gbisd-riverside-2026"]
    wider = {**doc, "version": doc["version"] + 1, "purposes": [*doc["purposes"], "emergency"]}
    agreements.import_agreement(rt, wider, acting=Acting.partner(DISTRICT))
    return rt


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    return seed_flows(rt)


def _board(rt: Runtime, organization: str = "", start: dt.date = START, end: dt.date = END) -> core.Dashboard:
    return service.dashboard(rt, OFFICER, start=start, end=end, organization=organization)


def _drill(rt: Runtime, figure: str, board: core.Dashboard, **keys: str | None) -> service.DrillDown:
    selector = core.Selector(
        figure=figure, start=board.start, end=board.end, organization=board.organization, **keys
    )
    return service.entries(rt, OFFICER, selector)


# -- the figures equal the services' ------------------------------------------------------------


def test_every_section_equals_the_flow_report(world: Runtime) -> None:
    board = _board(world)
    by = {g: flow_report(world, OPERATOR_READER, start=START, end=END, by=g) for g in fr.GROUPINGS}
    assert {k: board.report[k] for k in SECTIONS} == {k: by[fr.PAIR][k] for k in SECTIONS}
    assert list(board.by_category) == by[fr.CATEGORY]["flows"]
    assert list(board.by_purpose) == by[fr.PURPOSE]["flows"]
    assert board.report["totals"]["emergencies"] == 1
    assert board.report["consents"]["revoked"] == ["consent-0002-gbisd-to-northside"]


def test_the_organization_filter_is_the_partners_own_report(world: Runtime) -> None:
    board = _board(world, FOOD_BANK)
    theirs = flow_report(world, FOOD_BANK_READER, start=START, end=END, by=fr.PAIR)
    assert {k: board.report[k] for k in SECTIONS} == {k: theirs[k] for k in SECTIONS}
    everyone = _board(world)
    assert board.report["totals"]["disclosures"] < everyone.report["totals"]["disclosures"]
    assert all(FOOD_BANK in (f["source"], f["recipient"]) for f in board.report["flows"])


def test_the_period_filter_narrows(world: Runtime) -> None:
    before = _board(world, start=D(2026, 10, 1), end=D(2026, 10, 31))
    assert before.report["totals"] == {
        "disclosures": 0,
        "records": 0,
        "decisions": 0,
        "denials": 0,
        "emergencies": 0,
    }
    assert before.report["flows"] == []
    assert sum(b.disclosures for b in before.series) == 0


def test_the_time_series_adds_up_to_the_totals(world: Runtime) -> None:
    board = _board(world)
    assert board.granularity == core.DAY
    assert len(board.series) == 30  # every day of November, empty ones included
    totals = board.report["totals"]
    assert sum(b.disclosures for b in board.series) == totals["disclosures"]
    assert sum(b.records for b in board.series) == totals["records"]
    assert sum(b.denials for b in board.series) == totals["denials"]
    (today,) = [b for b in board.series if b.start == world.now().date()]
    assert today.disclosures == totals["disclosures"]


def test_retention_equals_the_retention_report(rt: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    send_demo(rt, "01")
    send_demo(rt, "04")  # held: past retention, but pending
    clock.advance(days=366)
    today = clock.now.date()
    board = _board(rt, start=today - dt.timedelta(days=30), end=today)
    report = retention_report(rt, OPERATOR_READER)
    named = {"purge": "past-retention", "pending": "past-retention-pending", "purged": "purged"}
    assert board.retention_counts == {named[k]: n for k, n in report["counts"].items()}
    assert board.retention_counts["past-retention"] >= 1
    assert board.retention_counts["past-retention-pending"] >= 1
    assert list(board.retention) == report["copies"]


# -- drill-down: exactly the entries counted -----------------------------------------------------


def test_each_flow_figure_drills_down_to_exactly_its_entries(world: Runtime) -> None:
    board = _board(world)
    tables = (
        (board.report["flows"], ("source", "recipient")),
        (board.by_category, ("category",)),
        (board.by_purpose, ("purpose",)),
    )
    for rows, keys in tables:
        for row in rows:
            drill = _drill(world, core.FLOWS, board, **{k: row[k] for k in keys})
            assert drill.matched == row["disclosures"] == len(drill.entries), row
            assert {e.kind for e in drill.entries} == {"disclosure"}
    everything = _drill(world, core.FLOWS, board)
    assert everything.matched == board.report["totals"]["disclosures"]


def test_series_denials_and_emergencies_drill_down(world: Runtime) -> None:
    board = _board(world)
    for bucket in board.series:
        if bucket.disclosures:
            part = core.Selector(figure=core.FLOWS, start=bucket.start, end=bucket.end)
            assert service.entries(world, OFFICER, part).matched == bucket.disclosures
    for row in board.report["denials"]:
        keys = {k: row[k] for k in ("reason", "source", "recipient", "purpose")}
        drill = _drill(world, core.DENIALS, board, **keys)
        assert drill.matched == row["denials"]
        assert {e.kind for e in drill.entries} == {"decision"}
        assert all(dict(e.summary)["effect"] == "deny" for e in drill.entries)
    emergencies = _drill(world, core.EMERGENCIES, board)
    assert [dict(e.summary)["disclosure"] for e in emergencies.entries] == ["dis-3"]


def test_consents_and_agreements_drill_down_to_their_records(world: Runtime) -> None:
    board = _board(world)
    revoked = _drill(world, core.CONSENTS, board, state="revoked")
    assert {dict(e.summary)["consentId"] for e in revoked.entries} == {"consent-0002-gbisd-to-northside"}
    assert "consent.revoked" in {e.kind for e in revoked.entries}
    unsigned = _drill(world, core.AGREEMENTS, board, state="unsigned")
    (row,) = board.report["agreements"]["unsigned"]
    assert unsigned.matched >= 1
    assert {(dict(e.summary)["agreementId"], dict(e.summary)["version"]) for e in unsigned.entries} == {
        (row["key"], str(row["version"]))
    }


def test_retention_copies_drill_down_to_their_arrival_and_purge(rt: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    sent = send_demo(rt, "01")
    clock.advance(days=366)
    run_retention(rt)
    today = clock.now.date()
    board = _board(rt, start=today, end=today)
    assert sent.message_id in [c["id"] for c in board.retention if c["standing"] == "purged"]
    drill = _drill(rt, core.RETENTION, board, state="purged", item=sent.message_id)
    assert {e.kind for e in drill.entries} == {"exchange.inbound", "retention.purged"}


def test_verification_status_of_each_entry(world: Runtime) -> None:
    board = _board(world)
    drill = _drill(world, core.FLOWS, board)
    assert drill.chain_ok
    assert {e.status for e in drill.entries} == {core.VERIFIED}
    # An entry written after the last signed head (heads now only every 10,000): intact, but unsigned.
    world = dataclasses.replace(
        world, settings=dataclasses.replace(world.settings, checkpoint_every_entries=10_000)
    )
    write_entries(world, [("disclosure", _disclosure(9, CLINIC, DISTRICT, "care-coordination", ["health"]))])
    drill = _drill(world, core.FLOWS, board, purpose="care-coordination", category="health")
    statuses = {dict(e.summary)["disclosure"]: e.status for e in drill.entries}
    assert statuses["dis-9"] == core.UNSIGNED
    assert statuses["dis-1"] == core.VERIFIED
    # Someone with the database edits an entry: it no longer verifies; the page says the chain is broken.
    (seq,) = [e.seq for e in drill.entries if dict(e.summary)["disclosure"] == "dis-1"]
    with world.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET actor = 'someone-else' WHERE seq = :s"), {"s": seq})
    drill = _drill(world, core.FLOWS, board, purpose="care-coordination", category="health")
    assert not drill.chain_ok
    assert {dict(e.summary)["disclosure"]: e.status for e in drill.entries}["dis-1"] == core.BROKEN


# -- rules ----------------------------------------------------------------------------------


def test_every_read_and_export_is_audited(world: Runtime) -> None:
    before = len(audit_entries(world, "audit.read"))
    board = service.dashboard(world, OFFICER, start=START, end=END, organization=FOOD_BANK, export="pairs")
    _drill(world, core.FLOWS, board)
    reads = audit_entries(world, "audit.read")[before:]
    assert [r["details"]["what"] for r in reads] == ["compliance.export", "compliance.entries"]
    assert reads[0]["details"]["query"]["table"] == "pairs"
    assert reads[0]["details"]["query"]["organization"] == FOOD_BANK
    assert reads[0]["actor"] == "gateway/person-1"


@pytest.mark.parametrize(
    ("reader", "error"),
    [
        (FOOD_BANK_READER, AccessDenied),
        (AuditReader(organization_id=DISTRICT, client_id="c", role="coordinator"), AccessDenied),
    ],
)
def test_only_readers_of_the_whole_audit(world: Runtime, reader: AuditReader, error: type) -> None:
    with pytest.raises(error):
        service.dashboard(world, reader, start=START, end=END)
    with pytest.raises(error):
        service.entries(world, reader, core.Selector(figure=core.FLOWS, start=START, end=END))


@pytest.mark.parametrize(
    ("selector", "path"),
    [
        (core.Selector(figure="everything", start=START, end=END), "figure"),
        (core.Selector(figure=core.CONSENTS, start=START, end=END, state="lost"), "state"),
        (core.Selector(figure=core.FLOWS, start=START, end=END, state="granted"), "state"),
        (core.Selector(figure=core.DENIALS, start=START, end=END, reason="whim"), "reason"),
        (core.Selector(figure=core.FLOWS, start=END, end=START), "to"),
        (core.Selector(figure=core.FLOWS, start=START, end=END, organization="x" * 101), "organization"),
    ],
)
def test_bad_drill_downs_are_refused_with_the_parameter(
    rt: Runtime, selector: core.Selector, path: str
) -> None:
    with pytest.raises(InputInvalid) as caught:
        service.entries(rt, OFFICER, selector)
    assert path in [i.path for i in caught.value.issues]


# -- core tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "unit", "buckets"),
    [
        (D(2026, 11, 1), D(2026, 11, 1), core.DAY, 1),
        (D(2026, 11, 1), D(2026, 12, 1), core.DAY, 31),
        (D(2026, 11, 1), D(2026, 12, 2), core.WEEK, 6),  # Sunday 1 Nov .. Wednesday 2 Dec
        (D(2026, 1, 1), D(2026, 12, 31), core.MONTH, 12),
        (D(2024, 2, 10), D(2024, 9, 5), core.MONTH, 8),
    ],
)
def test_time_buckets_cover_the_period_exactly(start: dt.date, end: dt.date, unit: str, buckets: int) -> None:
    assert core.granularity(start, end) == unit
    data = fr.ReportInput(
        start=start,
        end=end,
        by=fr.PAIR,
        disclosures=(),
        decisions=(),
        emergencies=(),
        consents=(),
        agreements=(),
        retention={},
    )
    found = core.series(data, unit)
    assert len(found) == buckets
    assert found[0].start == start
    assert found[-1].end == end
    assert all(a.end + dt.timedelta(days=1) == b.start for a, b in itertools.pairwise(found))


@pytest.mark.parametrize(
    ("seq", "breaks", "heads", "status"),
    [
        # intact and covered by a head that checked out
        (3, [], [5], core.VERIFIED),
        (5, [], [5], core.VERIFIED),
        # intact, after the newest head
        (6, [], [5], core.UNSIGNED),
        (1, [], [], core.UNSIGNED),
        # the entry itself edited, moved, or unlinked
        (3, [(3, "edited")], [5], core.BROKEN),
        (3, [(3, "reordered")], [5], core.BROKEN),
        (3, [(3, "broken-link")], [5], core.BROKEN),
        # a break elsewhere: judged by the heads covering the entry
        (3, [(2, "deleted"), (5, core.CHECKPOINT_MISMATCH)], [5], core.UNPROVEN),
        (3, [(2, "deleted"), (5, core.CHECKPOINT_MISMATCH)], [5, 8], core.VERIFIED),
        (3, [(5, "forged-checkpoint")], [5], core.UNPROVEN),
        (7, [(4, "edited")], [5, 9], core.VERIFIED),
    ],
)
def test_entry_status(seq: int, breaks: list[tuple[int, str]], heads: list[int], status: str) -> None:
    assert core.entry_status(seq, breaks, heads) == status


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_never_run_as_formulas(cell: str) -> None:
    text_ = core.to_csv(("a", "b"), [(cell, "plain")])
    (_header, row) = list(csv.reader(io.StringIO(text_)))
    assert row == ["'" + cell, "plain"]


def test_a_partners_id_in_a_dashboard_table_is_defused(rt: Runtime) -> None:
    write_entries(
        rt, [("disclosure", _disclosure(1, "=cmd|' /C calc'!A0", "@evil", "+purpose", ["-category"]))]
    )
    board = _board(rt, start=rt.now().date(), end=rt.now().date())
    for name in ("pairs", "categories", "purposes"):
        header, rows = service.table(board, name)
        cells = [c for row in csv.reader(io.StringIO(core.to_csv(header, rows))) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], name
    assert all(name in service.TABLES for name in ("series", "retention"))
