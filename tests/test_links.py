"""Explicit identity links: a reviewed link lets held records land; nothing is ever moved silently."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import DISTRICT_IDS, LISA, count_rows, send_demo

from gateway.cli import main
from gateway.errors import Conflict, InputInvalid, NotFound
from gateway.service.compliance.audit import verify
from gateway.service.identity.links import link_identifier
from gateway.storage import audit_store, plan_store

CLINIC_PATIENTS = "https://riverside-health.example.org/fhir/Patient"


def _held_screening(rt):
    send_demo(rt, "01")
    return send_demo(rt, "04")  # the screening names a patient nobody linked yet


def test_a_reviewed_link_replays_the_held_screening(rt):
    held = _held_screening(rt)
    assert held.status == "held"
    patient = "rh-55810"
    summary = link_identifier(
        rt, student_ref=f"{DISTRICT_IDS}|604822", system=CLINIC_PATIENTS, value=patient, by="staff-17"
    )
    assert summary.created
    assert summary.student_id == LISA
    assert [s.message_id for s in summary.replayed] == [held.message_id]
    assert summary.replayed[0].status == "mapped"
    with rt.sessions() as session:
        plan = plan_store.get_plan(session, LISA).document
    assert any(n["code"]["code"] == "733423003" for n in plan["needs"])
    assert verify(rt).ok


def test_the_audit_keeps_a_digest_not_the_identifier(rt):
    _held_screening(rt)
    link_identifier(rt, student_ref=LISA, system=CLINIC_PATIENTS, value="rh-55810", by="staff-17")
    with rt.sessions() as session:
        entries = [e for e in audit_store.iter_audit(session) if e.kind == "identity.linked"]
    assert len(entries) == 1
    assert "rh-55810" not in str(entries[0].details)
    assert entries[0].details["valueDigest"].startswith("sha256:")


def test_linking_again_changes_nothing(rt):
    _held_screening(rt)
    link_identifier(rt, student_ref=LISA, system=CLINIC_PATIENTS, value="rh-55810", by="s")
    links = count_rows(rt, "student_links")
    again = link_identifier(rt, student_ref=LISA, system=CLINIC_PATIENTS, value="rh-55810", by="s")
    assert not again.created
    assert again.replayed == ()
    assert count_rows(rt, "student_links") == links


@pytest.mark.parametrize(
    ("student", "system", "value", "error"),
    [
        ("stu-unknown", CLINIC_PATIENTS, "p1", NotFound),
        (LISA, "", "p1", InputInvalid),
        (LISA, CLINIC_PATIENTS, " ", InputInvalid),
        (LISA, CLINIC_PATIENTS, "x" * 201, InputInvalid),
        (LISA, DISTRICT_IDS, "604834", Conflict),  # another student's district id
    ],
)
def test_bad_links_are_refused(rt, student, system, value, error):
    send_demo(rt, "01")
    with pytest.raises(error):
        link_identifier(rt, student_ref=student, system=system, value=value, by="s")


def test_cli_links_and_reports(rt):
    _held_screening(rt)
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "--home",
            str(rt.settings.home),
            "students",
            "link",
            LISA,
            "--system",
            CLINIC_PATIENTS,
            "--value",
            "rh-55810",
            "--by",
            "staff-17",
        ],
        env={"GATEWAY_DATABASE_URL": rt.settings.database_url},
    )
    assert result.exit_code == 0, result.output
    assert "linked:" in result.output
    assert "replayed" in result.output
