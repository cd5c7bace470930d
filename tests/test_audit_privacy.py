"""Nothing sensitive reaches the audit trail: after a realistic flow (a FHIR screening of a named
patient, plan reads, a referral, the agency's free-text outcome) no name, birth date, identifier
or note appears in any entry; free text is kept as its digest and length; subjects are
canonical ids of registered students, never what a caller typed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from gateway.errors import NotFound
from gateway.service.compliance.audit import free_text
from gateway.service.referrals.delivery_worker import deliver_due
from gateway.service.referrals.referrals import StatusReport, report_status
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from tests.agency_server import Agency
from tests.helpers import DISTRICT_IDS, LISA, send_demo
from tests.referral_world import DISTRICT, FOOD_BANK, audit_entries, refer_lisa

NOTE = "Lisa Woods came in with her aunt; she told us about the eviction notice"
# From the demo payloads: the patient's name, birth date, MRN and district student id.
SENSITIVE = ("Lisa", "Woods", "2010-03-14", "MRN-55810", "604822", "eviction", NOTE)
TYPED = "stu-lisa-woods-2010-03-14"


def coordinator(student: str) -> ReadRequest:
    return ReadRequest(
        student_id=student,
        organization_id=DISTRICT,
        actor="t-coord",
        role="coordinator",
        purpose="care-coordination",
    )


def realistic_flow(rt: Runtime) -> str:
    assert send_demo(rt, "04").status == "mapped"  # the Hunger Vital Sign screening
    read_plan(rt, coordinator(LISA))
    with pytest.raises(NotFound):
        read_plan(rt, coordinator(TYPED))
    refer_lisa(rt, note_code="733423003")
    [sent] = deliver_due(rt)
    report_status(rt, StatusReport(delivery_id=sent.id, reporter=FOOD_BANK, status="accepted"))
    report = StatusReport(delivery_id=sent.id, reporter=FOOD_BANK, status="completed", outcome=NOTE)
    report_status(rt, report)
    return sent.id


def test_no_audit_entry_holds_a_name_birth_date_identifier_or_note(rt: Runtime, agency: Agency) -> None:
    realistic_flow(rt)
    entries = audit_entries(rt)
    kinds = {e["kind"] for e in entries}
    assert {"exchange.inbound", "plan.read", "disclosure.queued", "referral.status"} <= kinds
    for entry in entries:
        text = json.dumps(entry, sort_keys=True)
        found = [s for s in SENSITIVE if s.lower() in text.lower()]
        assert not found, (entry["kind"], found)


def test_the_agencys_outcome_is_audited_as_digest_and_length(rt: Runtime, agency: Agency) -> None:
    realistic_flow(rt)
    status = audit_entries(rt, "referral.status")[-1]
    expected = {"digest": "sha256:" + hashlib.sha256(NOTE.encode()).hexdigest(), "length": len(NOTE)}
    assert status["details"]["outcome"] == expected == free_text(NOTE)


def test_a_report_without_outcome_has_no_outcome_entry(rt: Runtime, agency: Agency) -> None:
    refer_lisa(rt)
    [sent] = deliver_due(rt)
    report_status(rt, StatusReport(delivery_id=sent.id, reporter=FOOD_BANK, status="accepted"))
    [status] = audit_entries(rt, "referral.status")
    assert "outcome" not in status["details"]


def test_reads_are_audited_under_the_resolved_student(rt: Runtime, agency: Agency) -> None:
    send_demo(rt, "04")
    read_plan(rt, coordinator(LISA))
    with pytest.raises(NotFound):
        read_plan(rt, coordinator(TYPED))
    subjects = [e["subject"] for e in audit_entries(rt, "plan.read")]
    assert subjects == [LISA, ""]


def test_a_referral_for_a_typed_id_is_audited_without_it(rt: Runtime, agency: Agency) -> None:
    with pytest.raises(NotFound):
        refer_lisa(rt, student_ref=TYPED)
    [refused] = audit_entries(rt, "disclosure.refused")
    assert refused["subject"] == ""
    assert TYPED not in json.dumps(refused)


def test_free_text_keeps_proof_not_words() -> None:
    kept: dict[str, Any] = free_text("née Zoë")
    assert kept == {"digest": "sha256:" + hashlib.sha256("née Zoë".encode()).hexdigest(), "length": 7}
    assert DISTRICT_IDS not in json.dumps(free_text(DISTRICT_IDS))
