"""The golden accounting: the demo world's student, checked field by field against what the demo
did (the reads that showed something, the referral deliveries the agency accepted, the denials),
and against tests/golden/accounting/*.json for the fields that do not depend on the clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.service.administration.demo import run_demo
from gateway.service.runtime import Settings
from tests.conftest import PROJECT_ROOT

GOLDEN = Path(__file__).parent / "golden" / "accounting"
STABLE = ("recipient", "recipientRole", "purpose", "legalBasis", "description", "agreements", "consentIds")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lines: list[str] = []
    home = tmp_path_factory.mktemp("demo")
    site = Settings(home=home, database_url="sqlite://", artifacts_root=PROJECT_ROOT)
    result = run_demo(home, site, lines.append)
    result["said"] = lines
    result["home"] = home
    return result


def test_the_demo_ends_with_one_person_per_page_who_can_sign_in(demo: dict[str, Any]) -> None:
    from gateway.service.identity.people import sign_in
    from gateway.service.runtime import open_runtime

    assert sorted(p["role"] for p in demo["people"]) == ["compliance", "coordinator", "family"]
    listing = demo["home"] / "people.txt"
    assert listing.stat().st_mode & 0o077 == 0  # the passwords file is the operator's alone
    rt = open_runtime(Settings(home=demo["home"], database_url=f"sqlite:///{demo['home'] / 'gateway.db'}"))
    try:
        for p in demo["people"]:
            assert sign_in(rt, email=p["email"], password=p["password"]).person.role == p["role"]
            assert p["password"] in listing.read_text()
    finally:
        rt.engine.dispose()
    assert any("http://127.0.0.1:8080/" in line for line in demo["said"])


def test_every_read_that_showed_something_is_one_row(demo: dict[str, Any]) -> None:
    rows = demo["accounting"]["disclosures"]
    shown = [r for r in demo["reads"] if "counts" in r]
    assert sorted(r["recipient"] for r in rows if r["flow"] == "plan.read") == sorted(
        r["reader"] for r in shown
    )
    for row in (r for r in rows if r["flow"] == "plan.read"):
        assert row["count"] == 1
        assert row["decisionIds"]
        assert row["date"] == row["lastDate"]


def test_only_accepted_deliveries_are_disclosures(demo: dict[str, Any]) -> None:
    sent = {d["id"] for d in demo["deliveries"] if d.get("status") == "sent"}
    rows = demo["accounting"]["disclosures"]
    assert {i for r in rows if r["flow"] == "referral" for i in r["disclosureIds"]} == sent


def test_inbound_rows_are_the_exchanges_about_the_student_and_internal(demo: dict[str, Any]) -> None:
    inbound = [r for r in demo["accounting"]["disclosures"] if r["flow"] == "inbound"]
    assert inbound
    assert all(r["internal"] for r in inbound)
    messages = {e["messageId"] for e in demo["exchanges"]}
    assert {i.split(":")[0] for r in inbound for i in r["disclosureIds"]} <= messages


def test_denied_reads_are_listed_for_the_officer(demo: dict[str, Any]) -> None:
    denied = {r["reader"] for r in demo["reads"] if "error" in r}
    assert denied <= {d["recipient"] for d in demo["accounting"]["denials"]}
    assert "research" in {d["purpose"] for d in demo["accounting"]["denials"]}


def test_the_agencys_task_poll_is_a_disclosure_of_the_referral(demo: dict[str, Any]) -> None:
    """The food bank reads the referral's Task the district sent: a FHIR read, not internal."""
    polled = [r for r in demo["accounting"]["disclosures"] if r["flow"] == "fhir.read"]
    assert [(r["recipient"], r["internal"]) for r in polled] == [("northside-food-bank", False)]
    assert any("polls /fhir/r4/Task" in line for line in demo["said"])


def test_the_demo_ends_with_the_table(demo: dict[str, Any]) -> None:
    assert demo["said"][-1].startswith("Accounting of disclosures for stu-")


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_fields(demo: dict[str, Any], path: Path, request: pytest.FixtureRequest) -> None:
    expected = json.loads(path.read_text("utf-8"))
    got = [{k: r[k] for k in STABLE} | {"internal": r["internal"]} for r in demo["accounting"]["disclosures"]]
    if request.config.getoption("--update-golden"):
        expected = {**expected, "disclosures": got}
        path.write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert got == expected["disclosures"]
    assert demo["accounting"]["student"] == expected["student"]
