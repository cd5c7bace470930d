"""The flow report over the demo world: flows, denials, consents, agreements, emergencies and
retention, for the whole gateway and restricted to a partner; the CLI and the HTTP answers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.disclosure import DecisionRecord, DisclosureRecord
from gateway.errors import AccessDenied, InputInvalid
from gateway.service.compliance import audit
from gateway.service.compliance.audit_access import OPERATOR_READER, AuditReader
from gateway.service.compliance.reports import flow_report, retention_report
from gateway.service.policy import agreements
from gateway.service.policy.agreement_views import Acting
from gateway.service.policy.consents import revoke_consent
from gateway.service.runtime import Runtime
from gateway.storage import agreement_store
from gateway.web.openapi import build_openapi
from tests.helpers import LISA, client_with_token, coordinator_view, send_demo
from tests.referral_world import audit_entries
from tests.test_web_openapi import schema_validator

DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
FLOWS, RETENTION = "/api/v1/reports/flows", "/api/v1/reports/retention"
START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
FOOD_BANK_READER = AuditReader(organization_id=FOOD_BANK, client_id="x", role="partner")
NO_AGREEMENT = (
    "no active agreement lets 'northside-food-bank' receive category 'health' from 'riverside-health' "
    "for purpose 'research' as role 'case-worker'"
)

# The answers the tests below check against the document, per operation.
CHECKED_ANSWERS = {(FLOWS, "get"): {200, 400, 401}, (RETENTION, "get"): {200, 401, 403}}


def _disclosure(
    i: int, source: str, recipient: str, purpose: str, cats: list[str], **extra: object
) -> DisclosureRecord:
    return DisclosureRecord(
        disclosure_id=f"dis-{i}",
        flow=str(extra.get("flow", "plan.read")),
        sources=(source,),
        recipient=recipient,
        recipient_role="coordinator",
        actor="t-coord",
        purpose=purpose,
        legal_basis=("ferpa-99.31(a)(1)",),
        categories=tuple(cats),
        elements=("el-1",),
        record_count=int(extra.get("count", 1)),  # type: ignore[call-overload]
        payload_digest="sha256:" + "0" * 64,
        redactions=(),
        agreements=("gbisd-riverside-2026@1",),
        consent_ids=(),
        decision_ids=(f"dec-{i}",),
        policy_version="v",
        emergency_threat_digest=extra.get("threat"),  # type: ignore[arg-type]
    )


def _denial() -> DecisionRecord:
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
        reasons=(NO_AGREEMENT,),
        policy_version="v",
        agreements=(),
    )


@pytest.fixture
def baseline(rt: Runtime) -> dict:
    """The report over the real flows only: the demo exchanges and the coordinator's read."""
    for prefix in ("01", "02", "05", "08"):
        send_demo(rt, prefix)
    coordinator_view(rt)
    return flow_report(rt, OPERATOR_READER, start=START, end=END, by="pair")


@pytest.fixture
def world(rt: Runtime, baseline: dict) -> Runtime:
    """The demo exchanges and a read, plus disclosure and decision entries in the contract's shape
    (core/disclosure.py), a revoked consent and a proposed, unsigned agreement version."""
    drafts = [
        (
            "disclosure",
            _disclosure(1, CLINIC, DISTRICT, "care-coordination", ["health", "identity"], count=3),
        ),
        (
            "disclosure",
            _disclosure(2, DISTRICT, FOOD_BANK, "referral-fulfillment", ["identity"], flow="referral"),
        ),
        (
            "disclosure",
            _disclosure(3, CLINIC, DISTRICT, "emergency", ["health"], threat="sha256:" + "1" * 64),
        ),
        ("decision", _denial()),
    ]
    with rt.sessions.begin() as session:
        audit.record(
            session,
            rt,
            [audit.AuditDraft(kind=k, actor="t", subject=LISA, details=r.to_details()) for k, r in drafts],
        )
    revoke_consent(rt, "consent-0002-gbisd-to-northside", by=DISTRICT)
    with rt.sessions() as session:
        (doc,) = [d for d in agreement_store.agreement_docs(session) if d["id"] == "gbisd-riverside-2026"]
    wider = {**doc, "version": doc["version"] + 1, "purposes": [*doc["purposes"], "emergency"]}
    agreements.import_agreement(rt, wider, acting=Acting.partner(DISTRICT))
    return rt


def _rows(report: dict) -> dict[tuple[str, str], tuple[int, int]]:
    return {(f["source"], f["recipient"]): (f["disclosures"], f["records"]) for f in report["flows"]}


def test_the_whole_report(world: Runtime, baseline: dict) -> None:
    report = flow_report(world, OPERATOR_READER, start=START, end=END, by="pair")
    assert report["scope"] == "all"
    # the entries the fixture wrote, on top of what the real flows (exchanges, the read) wrote
    added = {"disclosures": 3, "records": 5, "decisions": 1, "denials": 1, "emergencies": 1}
    assert {k: report["totals"][k] - baseline["totals"][k] for k in added} == added
    before, after = _rows(baseline), _rows(report)
    assert after[(CLINIC, DISTRICT)][0] - before.get((CLINIC, DISTRICT), (0, 0))[0] == 2
    assert after[(DISTRICT, FOOD_BANK)][0] - before.get((DISTRICT, FOOD_BANK), (0, 0))[0] == 1
    assert (DISTRICT, DISTRICT) in before  # the coordinator's real read of the district's records
    denials = {(d["reason"], d["source"], d["recipient"], d["purpose"]) for d in report["denials"]}
    assert ("no-agreement", CLINIC, FOOD_BANK, "research") in denials
    assert ("no-agreement", CLINIC, DISTRICT, "care-coordination") in denials  # the real read's
    assert report["consents"]["revoked"] == ["consent-0002-gbisd-to-northside"]
    (unsigned,) = report["agreements"]["unsigned"]
    assert unsigned["id"] == "gbisd-riverside-2026"
    assert CLINIC in unsigned["unsignedBy"]
    assert [e["id"] for e in report["emergencies"]] == ["dis-3"]
    assert report["retention"] == {"pastRetention": 0, "pastRetentionPending": 0, "purged": 0}
    assert LISA not in json.dumps(report)
    *_, read = [e for e in audit_entries(world, "audit.read") if e["details"]["what"] == "report.flows"]
    assert read["details"]["query"] == {"from": "2026-11-01", "to": "2026-11-30", "by": "pair"}


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        ("category", ["health", "identity"]),
        ("purpose", ["care-coordination", "emergency", "referral-fulfillment"]),
    ],
)
def test_other_groupings(world: Runtime, by: str, keys: list[str]) -> None:
    report = flow_report(world, OPERATOR_READER, start=START, end=END, by=by)
    found = [f[by] for f in report["flows"]]
    assert found == sorted(found)  # deterministic order
    assert set(keys) <= set(found)  # the real read adds its own categories and purpose


def test_agreements_ending_within_60_days_of_the_end(world: Runtime) -> None:
    report = flow_report(world, OPERATOR_READER, start=START, end=dt.date(2030, 5, 15), by="pair")
    assert "gbisd-northside-2026" in {a["id"] for a in report["agreements"]["ending"]}
    report = flow_report(world, OPERATOR_READER, start=START, end=dt.date(2030, 4, 1), by="pair")
    assert report["agreements"]["ending"] == []


def test_a_partner_gets_its_own_flows_only(world: Runtime) -> None:
    report = flow_report(world, FOOD_BANK_READER, start=START, end=END, by="pair")
    assert report["scope"] == FOOD_BANK
    assert [(f["source"], f["recipient"]) for f in report["flows"]] == [(DISTRICT, FOOD_BANK)]
    assert [d["recipient"] for d in report["denials"]] == [FOOD_BANK]  # the request named it
    assert report["emergencies"] == []
    assert report["consents"]["revoked"] == []  # recorded by the district
    assert report["retention"] == {}
    with pytest.raises(AccessDenied):
        retention_report(world, FOOD_BANK_READER)


@pytest.mark.parametrize(
    ("start", "end", "by"),
    [(END, START, "pair"), (START, END, "student"), (dt.date(2000, 1, 1), END, "pair")],
)
def test_invalid_parameters(world: Runtime, start: dt.date, end: dt.date, by: str) -> None:
    with pytest.raises(InputInvalid):
        flow_report(world, OPERATOR_READER, start=start, end=end, by=by)


def _whole(rt: Runtime) -> int:
    return int(flow_report(rt, OPERATOR_READER, start=START, end=END, by="pair")["totals"]["disclosures"])


def _cli(rt: Runtime, *args: str) -> str:
    env = {"GATEWAY_DATABASE_URL": rt.settings.database_url}
    result = CliRunner().invoke(
        main, ["--home", str(rt.settings.home), *args], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_text_json_and_formula_safe_csv(world: Runtime) -> None:
    dates = ("--from", "2026-11-01", "--to", "2026-11-30")
    assert "no-agreement" in _cli(world, "report", "flows", *dates)
    assert json.loads(_cli(world, "report", "flows", *dates, "--json"))["totals"]["disclosures"] == _whole(
        world
    )
    with world.sessions.begin() as session:
        bad = _disclosure(9, "=HYPERLINK(1)", DISTRICT, "care-coordination", ["health"])
        audit.record(
            session,
            world,
            [audit.AuditDraft(kind="disclosure", actor="t", subject="", details=bad.to_details())],
        )
    rows = list(csv.reader(io.StringIO(_cli(world, "report", "flows", *dates, "--csv"))))
    assert rows[0] == ["section", "key", "value", "count", "detail"]
    cells = [c for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert "'=HYPERLINK(1)/grand-bend-isd" in cells


def test_cli_retention_run(world: Runtime) -> None:
    out = json.loads(_cli(world, "retention", "run", "--json"))
    assert out["purgedMessages"] == []


_http = client_with_token


def checked(response: object, path: str, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    validator = schema_validator(build_openapi(), path, "get", status)
    assert not [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    return body


def test_http_compliance_credential_gets_the_whole_report(world: Runtime) -> None:
    client, auth = _http(world, DISTRICT, "compliance")
    body = checked(client.get(f"{FLOWS}?from=2026-11-01&to=2026-11-30&by=pair", headers=auth), FLOWS, 200)  # type: ignore[attr-defined]
    assert body["scope"] == "all"
    assert body["totals"]["disclosures"] == _whole(world)
    checked(client.get(f"{FLOWS}?from=2026-13-01", headers=auth), FLOWS, 400)  # type: ignore[attr-defined]
    checked(client.get(f"{FLOWS}?by=student", headers=auth), FLOWS, 400)  # type: ignore[attr-defined]
    checked(client.get(FLOWS), FLOWS, 401)  # type: ignore[attr-defined]
    standing = checked(client.get(RETENTION, headers=auth), RETENTION, 200)  # type: ignore[attr-defined]
    assert standing["counts"] == {"purge": 0, "pending": 0, "purged": 0}
    checked(client.get(RETENTION), RETENTION, 401)  # type: ignore[attr-defined]


def test_http_partner_gets_a_restricted_report_and_no_retention(world: Runtime) -> None:
    client, auth = _http(world, FOOD_BANK)
    body = checked(client.get(f"{FLOWS}?from=2026-11-01&to=2026-11-30", headers=auth), FLOWS, 200)  # type: ignore[attr-defined]
    assert body["scope"] == FOOD_BANK
    checked(client.get(RETENTION, headers=auth), RETENTION, 403)  # type: ignore[attr-defined]


def test_every_report_operation_is_checked_for_a_success_and_an_error() -> None:
    from gateway.web.report_api import OPENAPI_PATHS

    assert set(CHECKED_ANSWERS) == {(p, m) for p, item in OPENAPI_PATHS.items() for m in item}
    for (path, method), statuses in CHECKED_ANSWERS.items():
        assert any(s < 400 for s in statuses)
        assert any(s >= 400 for s in statuses)
        assert {str(s) for s in statuses} <= set(OPENAPI_PATHS[path][method]["responses"])
