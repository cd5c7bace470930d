"""Referrals through the outbox: queueing, deciding again at send time, and closing the loop."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from gateway.core.canonical import digest
from gateway.core.plan import iter_elements
from gateway.errors import AccessDenied, Conflict, InputInvalid, NotFound
from gateway.service.policy import enforcement
from gateway.service.referrals.deliveries import list_deliveries
from gateway.service.referrals.delivery_worker import deliver_due
from gateway.service.referrals.referrals import StatusReport, report_status
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, not_visible, read_plan
from gateway.storage import delivery_store
from tests.agency_server import Agency
from tests.conftest import Clock
from tests.helpers import LISA, coordinator_view, count_rows, send_demo
from tests.referral_world import (
    CLINIC,
    DISTRICT,
    FOOD_BANK,
    REFERRAL_AGREEMENT,
    REFERRAL_CONSENT,
    STATUS_AGREEMENT,
    amend_agreement,
    audit_entries,
    consent_covers_referrals,
    delivery,
    let_district_follow_referrals,
    refer_lisa,
    revoke_consent,
    set_endpoint,
)

SENSITIVE = ("Lisa", "Woods", "2010-03-14", "604822", "MRN-55810")


# -- queueing ----------------------------------------------------------------------------


def test_a_referral_is_queued_with_the_shaped_plan_and_audited(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt, note_code="733423003")
    assert (queued.status, queued.source, queued.recipient, queued.kind) == (
        "queued",
        DISTRICT,
        FOOD_BANK,
        "referral",
    )
    assert queued.consent_ids == ("consent-0002-gbisd-to-northside",)
    assert queued.categories == ("identity",)
    row = delivery(rt, queued.id)
    assert row.decision_id is not None
    header = row.payload["referral"]
    assert header == {
        "deliveryId": queued.id,
        "studentId": LISA,
        "source": DISTRICT,
        "recipient": FOOD_BANK,
        "purpose": "referral-fulfillment",
        "role": "case-worker",
        "requestedBy": "ms-ortiz",
        "reasonCode": "733423003",
        "domain": "familyBasicNeeds",
        "created": rt.now().isoformat(),
    }
    [entry] = audit_entries(rt, "disclosure.queued")
    assert entry["actor"] == f"{DISTRICT}/ms-ortiz"
    assert entry["details"]["payloadDigest"] == digest(row.payload)
    assert entry["details"]["consentIds"] == ["consent-0002-gbisd-to-northside"]
    assert agency.received == []  # nothing leaves before the worker runs
    text = json.dumps(audit_entries(rt))
    assert not [s for s in SENSITIVE if s in text]


def test_the_same_referral_while_queued_is_the_same_delivery(rt: Runtime, agency: Agency) -> None:
    first = refer_lisa(rt)
    again = refer_lisa(rt, actor="mr-lee")
    assert again.id == first.id
    assert refer_lisa(rt, note_code="other-need").id != first.id
    assert count_rows(rt, "deliveries") == 2
    deliver_due(rt)
    assert refer_lisa(rt).id != first.id  # the first one went: this is a new referral


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"purpose": "care-coordination"}, id="purpose not in the agreement"),
        pytest.param({"role": "teacher"}, id="role not in the agreement"),
        pytest.param({"recipient_org": "no-such-agency"}, id="unknown recipient"),
        pytest.param({"student_ref": "stu-aaaaaaaaaaaaaaaaaaaaaaaaaa"}, id="no such student"),
        pytest.param({"student_ref": "https://grandbend.example.org/ns/studentUniqueId|1"}, id="unknown id"),
    ],
)
def test_a_referral_of_which_nothing_may_go_looks_like_a_denied_read(
    rt: Runtime, agency: Agency, change: dict[str, Any]
) -> None:
    with pytest.raises(NotFound) as refused:
        refer_lisa(rt, **change)
    assert refused.value.to_dict() == not_visible().to_dict()
    assert count_rows(rt, "deliveries") == 0


def test_a_referrer_without_records_of_the_student_is_refused(rt: Runtime) -> None:
    send_demo(rt, "01")  # the district's records only: the clinic knows nothing of Lisa
    send_demo(rt, "08")  # and the district's link of Lisa's mother, who signed the consent
    consent_covers_referrals(rt)
    with pytest.raises(NotFound):
        refer_lisa(rt, source_org=CLINIC)
    [refused] = audit_entries(rt, "disclosure.refused")
    assert refused["details"]["referrerHoldsRecords"] is False
    assert refer_lisa(rt).status == "queued"  # the district itself may


def test_an_incomplete_referral_names_every_problem(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as bad:
        refer_lisa(rt, role="", actor="", recipient_org=DISTRICT, note_code="not a code!")
    assert [i.path for i in bad.value.issues] == ["actor", "role", "recipient", "reasonCode"]


# -- deciding again at send time ------------------------------------------------------------


def test_a_revoked_consent_cancels_the_queued_delivery(rt: Runtime, agency: Agency, clock: Clock) -> None:
    queued = refer_lisa(rt)
    clock.advance(minutes=5)
    revoke_consent(rt)  # directly: the revocation hook did not run
    [cancelled] = deliver_due(rt)
    assert (cancelled.id, cancelled.status) == (queued.id, "cancelled")
    assert "consent-0002-gbisd-to-northside was revoked" in (cancelled.reason or "")
    assert agency.received == []
    [entry] = audit_entries(rt, "disclosure.cancelled")
    assert entry["details"]["deliveryId"] == queued.id
    assert entry["details"]["reasonCode"] == "disclosure-denied"
    assert entry["details"]["earlierAttemptUnconfirmed"] is False
    assert deliver_due(rt) == []


def test_a_suspended_agreement_cancels_the_queued_delivery(rt: Runtime, agency: Agency) -> None:
    refer_lisa(rt)
    amend_agreement(rt, status="suspended")
    [cancelled] = deliver_due(rt)
    assert cancelled.status == "cancelled"
    assert "no active agreement" in (cancelled.reason or "")
    assert agency.received == []


def test_the_parents_consent_stops_counting_when_the_student_turns_18(
    rt: Runtime, agency: Agency, clock: Clock
) -> None:
    refer_lisa(rt)
    clock.now = dt.datetime(2028, 3, 14, 9, 0, tzinfo=dt.UTC)  # Lisa's 18th birthday
    [cancelled] = deliver_due(rt)
    assert cancelled.status == "cancelled"
    assert "must now come from the student" in (cancelled.reason or "")


def test_the_body_is_fixed_when_queued_and_decided_again_when_sent(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    at_queue = delivery(rt, queued.id)
    send_demo(rt, "04")  # the clinic's screening arrives (a need, but outside the agreement)
    set_endpoint(rt, agency.endpoint)
    deliver_due(rt)
    [got] = agency.received
    assert got.body == at_queue.body  # the very bytes stored at queue time
    assert {e["id"] for _, e in iter_elements(got.json["plan"])} == {
        e["id"] for _, e in iter_elements(at_queue.payload["plan"])
    }
    assert got.json["plan"]["needs"] == []  # sdoh-screening is not scheduled to the food bank


def test_when_less_may_go_than_the_body_holds_it_is_cancelled_not_reshaped(
    rt: Runtime, agency: Agency
) -> None:
    queued = refer_lisa(rt)
    body = delivery(rt, queued.id).payload
    identifiers = sorted(e["id"] for e in body["plan"]["student"]["identifiers"])
    amend_agreement(rt, field_sets={"referral-fulfillment": {"case-worker": ["student.name"]}})
    [cancelled] = deliver_due(rt)
    assert cancelled.status == "cancelled"
    assert (cancelled.reason or "").startswith("the queued body holds more than may go now")
    assert agency.received == []  # the name alone may go, but not as a different body
    [entry] = audit_entries(rt, "disclosure.cancelled")
    details = entry["details"]
    assert (details["reasonCode"], details["narrowing"]) == ("disclosure-narrowed", "elements-withdrawn")
    assert details["elementIds"] == identifiers
    assert details["bodyDigest"] == delivery(rt, queued.id).body_digest


def test_a_shorter_retention_since_queueing_cancels_the_delivery(rt: Runtime, agency: Agency) -> None:
    refer_lisa(rt)
    amend_agreement(rt, retention_days=30)
    [cancelled] = deliver_due(rt)
    assert cancelled.status == "cancelled"
    [entry] = audit_entries(rt, "disclosure.cancelled")
    assert entry["details"]["narrowing"] == "obligations-added"
    assert agency.received == []


def test_listing_the_outbox(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    assert [d.id for d in list_deliveries(rt, organization=DISTRICT)] == [queued.id]
    assert list_deliveries(rt, organization=FOOD_BANK) == []  # not received yet
    deliver_due(rt)
    assert [d.status for d in list_deliveries(rt, organization=FOOD_BANK)] == ["sent"]
    assert list_deliveries(rt, status="queued") == []
    with pytest.raises(InputInvalid):
        list_deliveries(rt, status="lost")


# -- every decision goes through the one door -------------------------------------------------


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(enforcement point, action) of every decision, in order."""
    seen: list[tuple[str, str]] = []
    original = enforcement.enforce

    def counting(point: str, request: Any, *args: Any) -> Any:
        seen.append((point, request.action))
        return original(point, request, *args)

    monkeypatch.setattr(enforcement, "enforce", counting)
    return seen


def test_disclosure_decisions_run_at_queue_time_and_at_send_time(
    rt: Runtime, agency: Agency, decisions: list[tuple[str, str]]
) -> None:
    refer_lisa(rt)
    at_queue = [d for d in decisions if d[1] == "disclose"]
    decisions.clear()
    deliver_due(rt)
    at_send = [d for d in decisions if d[1] == "disclose"]
    assert at_queue
    assert at_send


def test_the_delivery_enforcement_point_runs_at_queue_time_and_at_send_time(
    rt: Runtime, agency: Agency, decisions: list[tuple[str, str]]
) -> None:
    refer_lisa(rt)
    assert ("delivery", "disclose") in decisions
    decisions.clear()
    deliver_due(rt)
    assert ("delivery", "disclose") in decisions
    assert ("read", "disclose") not in decisions


def test_a_status_report_is_decided_at_the_inbound_point(
    rt: Runtime, agency: Agency, decisions: list[tuple[str, str]]
) -> None:
    refer_lisa(rt)
    [sent] = deliver_due(rt)
    decisions.clear()
    report_status(rt, StatusReport(delivery_id=sent.id, reporter=FOOD_BANK, status="accepted"))
    assert decisions == [("inbound", "ingest")]


# -- closing the loop --------------------------------------------------------------------------


@pytest.fixture
def sent_id(rt: Runtime, agency: Agency) -> str:
    refer_lisa(rt)
    [sent] = deliver_due(rt)
    assert sent.status == "sent"
    return sent.id


def report(
    rt: Runtime, delivery_id: str, status: str, outcome: str | None = None, by: str = FOOD_BANK
) -> Any:
    return report_status(
        rt, StatusReport(delivery_id=delivery_id, reporter=by, status=status, outcome=outcome)
    )


def test_the_agency_closes_the_loop_and_the_coordinator_sees_it(
    rt: Runtime, sent_id: str, clock: Clock
) -> None:
    let_district_follow_referrals(rt)
    accepted = report(rt, sent_id, "accepted")
    assert (accepted.previous, accepted.referral_status, accepted.changed) == ("requested", "accepted", True)
    clock.advance(days=3)
    done = report(rt, sent_id, "completed", outcome="enrolled in weekend food backpacks")
    assert (done.previous, done.referral_status, done.element_id) == (
        "accepted",
        "completed",
        accepted.element_id,
    )
    [support] = coordinator_view(rt)["supports"]
    assert support["referralStatus"] == "completed"
    assert support["service"]["code"] == sent_id
    assert (support["provider"], support["domain"]) == (FOOD_BANK, "familyBasicNeeds")
    assert (support["start"], support["end"]) == ("2026-11-23", "2026-11-26")
    assert support["outcome"] == "enrolled in weekend food backpacks"
    assert support["labels"] == {"regime": "not-covered", "sensitivity": "restricted", "category": "referral"}
    provenance = support["provenance"]
    assert provenance["sourceOrganization"] == FOOD_BANK
    assert provenance["sourceRecord"]["type"] == "Delivery"
    assert provenance["sourceRecord"]["id"] == sent_id
    assert provenance["mapping"] == "spgw.referral-status@1#support"
    statuses = [(e["details"]["from"], e["details"]["to"]) for e in audit_entries(rt, "referral.status")]
    assert statuses == [("requested", "accepted"), ("accepted", "completed")]
    assert "backpacks" not in json.dumps(audit_entries(rt))


def test_the_agency_sees_its_own_report_in_the_plan(rt: Runtime, sent_id: str) -> None:
    report(rt, sent_id, "accepted")
    request = ReadRequest(
        student_id=LISA,
        organization_id=FOOD_BANK,
        actor="cw",
        role="case-worker",
        purpose="referral-fulfillment",
    )
    assert [s["referralStatus"] for s in read_plan(rt, request).plan["supports"]] == ["accepted"]


def test_the_sample_status_agreement_lets_the_district_follow_the_referral(rt: Runtime, sent_id: str) -> None:
    report(rt, sent_id, "accepted")
    [support] = coordinator_view(rt)["supports"]
    assert (support["provider"], support["referralStatus"]) == ("northside-food-bank", "accepted")


def test_reporting_the_same_status_again_changes_nothing(rt: Runtime, sent_id: str) -> None:
    report(rt, sent_id, "accepted")
    again = report(rt, sent_id, "accepted")
    assert (again.changed, again.previous) == (False, "accepted")
    assert len(audit_entries(rt, "referral.status")) == 1


@pytest.mark.parametrize(
    ("path", "status", "allowed"),
    [
        pytest.param((), "completed", "accepted, rejected, cancelled", id="completed before accepted"),
        pytest.param((), "in-progress", "accepted, rejected, cancelled", id="in-progress before accepted"),
        pytest.param(
            # the Gravity referral machine: in-progress may also go on hold or fail
            ("accepted", "in-progress"),
            "accepted",
            "on-hold, completed, rejected, cancelled, failed",
            id="backwards",
        ),
        pytest.param(("rejected",), "accepted", None, id="after a final status"),
        pytest.param(("accepted", "completed"), "cancelled", None, id="cancel a completed one"),
    ],
)
def test_an_illegal_transition_is_a_conflict_naming_the_allowed_ones(
    rt: Runtime, sent_id: str, path: tuple[str, ...], status: str, allowed: str | None
) -> None:
    for step in path:
        report(rt, sent_id, step)
    with pytest.raises(Conflict) as conflict:
        report(rt, sent_id, status)
    assert conflict.value.message.endswith(f"it may move to {allowed}" if allowed else "it is closed")


def test_only_the_recipient_of_a_delivered_referral_may_report(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    with pytest.raises(NotFound):
        report(rt, queued.id, "accepted")  # not delivered yet
    deliver_due(rt)
    with pytest.raises(NotFound):
        report(rt, queued.id, "accepted", by=CLINIC)
    with pytest.raises(NotFound):
        report(rt, "dlv-nosuchdelivery", "accepted")


def test_a_bad_report_names_its_problems(rt: Runtime, sent_id: str) -> None:
    with pytest.raises(InputInvalid) as bad:
        report(rt, sent_id, "requested", outcome="x" * 501)
    assert [i.path for i in bad.value.issues] == ["status", "outcome"]


def test_a_report_needs_an_agreement_that_lets_the_agency_send(rt: Runtime, sent_id: str) -> None:
    amend_agreement(rt, REFERRAL_AGREEMENT, status="suspended")
    amend_agreement(rt, STATUS_AGREEMENT, status="suspended")
    with pytest.raises(AccessDenied):
        report(rt, sent_id, "accepted")


def test_the_revocation_hook_cancels_what_relies_on_the_consent(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    with rt.sessions.begin() as session:
        cancelled = delivery_store.cancel_queued_deliveries(
            session, REFERRAL_CONSENT, "consent revoked", rt.now()
        )
    assert cancelled == 1
    assert delivery(rt, queued.id).status == "cancelled"
    assert deliver_due(rt) == []
    assert agency.received == []
