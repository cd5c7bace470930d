"""The outbox worker over real HTTP: the gateway POSTs to a test agency (waitress, free port)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.canonical import digest, digest_bytes
from gateway.core.plan import iter_elements
from gateway.core.policy import PART2_NOTICE
from gateway.formats.fhir_consent import ORGANIZATION_SYSTEM, SIGNER_EXTENSION
from gateway.service.administration.setup import initialise
from gateway.service.referrals import delivery_worker
from gateway.service.referrals.deliveries import DeliverySummary
from gateway.service.referrals.delivery_lease import lease_length, new_owner
from gateway.service.referrals.delivery_worker import MAX_ATTEMPTS, Claim, backoff, deliver_due, token_jwks
from gateway.service.runtime import Runtime, Settings, utc_now
from gateway.storage.tables import ConsentRow, Plan
from tests.agency_server import Agency, closed_port_url, running_agency
from tests.conftest import Clock
from tests.helpers import LISA
from tests.referral_world import (
    FIELD_SET,
    FOOD_BANK,
    REFERRAL_CONSENT,
    audit_entries,
    delivery,
    prepare,
    refer_lisa,
    set_endpoint,
)


def verified_claims(rt: Runtime, token: str, now: dt.datetime) -> dict[str, object]:
    """Verify as an agency would: with the published JWK set, for its own audience."""
    (jwk,) = token_jwks(rt)["keys"]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    key = jwt.PyJWK.from_dict(jwk)
    claims: dict[str, object] = jwt.decode(
        token,
        key=key,
        algorithms=["EdDSA"],
        audience=FOOD_BANK,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert int(str(claims["iat"])) <= now.timestamp() < int(str(claims["exp"])) <= now.timestamp() + 300
    return claims


def test_a_referral_is_delivered_with_exactly_the_shaped_payload(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    [sent] = deliver_due(rt)
    assert (sent.id, sent.status, sent.response_status, sent.attempts) == (queued.id, "sent", 200, 1)
    [got] = agency.received
    row = delivery(rt, queued.id)
    assert got.body == row.body  # the bytes fixed at queue time
    assert got.json == row.payload
    assert digest_bytes(got.body) == digest(row.payload) == row.body_digest == sent.payload_digest
    assert "decisionIds" not in got.json["disclosure"]  # they name the time: audit only
    slots = {slot for slot, _ in iter_elements(got.json["plan"])}
    assert slots == {"student.name", "student.identifiers"}
    assert slots <= set(FIELD_SET)
    assert "birthDate" not in got.json["plan"]["student"]
    assert got.json["referral"]["deliveryId"] == queued.id
    assert {o["type"] for o in got.json["obligations"]} == {"retain-until", "no-redisclosure"}
    assert "notice" not in got.json  # no Part 2 records in this referral
    assert got.headers["Idempotency-Key"] == queued.id
    scheme, _, token = got.headers["Authorization"].partition(" ")
    claims = verified_claims(rt, token, rt.now())
    assert (scheme, claims["aud"], claims["deliveryId"]) == ("Bearer", FOOD_BANK, queued.id)
    assert claims["bodyDigest"] == digest_bytes(got.body)


def test_the_delivery_is_accounted_for_without_values(rt: Runtime, agency: Agency) -> None:
    queued = refer_lisa(rt)
    deliver_due(rt)
    [delivered] = audit_entries(rt, "disclosure.delivered")
    details = delivered["details"]
    assert details["recipient"] == FOOD_BANK
    assert details["purpose"] == "referral-fulfillment"
    assert details["consentIds"] == ["consent-0002-gbisd-to-northside"]
    assert details["categories"] == ["identity"]
    assert any(b.startswith("consent:") for b in details["basis"])
    assert details["payloadDigest"] == digest(delivery(rt, queued.id).payload)
    assert details["disclosedAt"] == rt.now().isoformat()
    kinds = [e["kind"] for e in audit_entries(rt, "disclosure.")]
    assert kinds == ["disclosure.queued", "disclosure.attempted", "disclosure.delivered"]
    everything = json.dumps(audit_entries(rt))
    for sensitive in ("Lisa", "Woods", "2010-03-14", "604822", "MRN-55810"):
        assert sensitive not in everything


def test_a_server_error_is_retried_after_the_backoff(rt: Runtime, agency: Agency, clock: Clock) -> None:
    queued = refer_lisa(rt)
    agency.answer(500)
    [first] = deliver_due(rt)
    assert (first.status, first.attempts, first.response_status) == ("queued", 1, 500)
    assert first.next_attempt_at == rt.now() + dt.timedelta(seconds=30)
    assert "HTTP 500" in (first.reason or "")
    assert deliver_due(rt) == []  # not due yet
    clock.advance(seconds=30)
    [second] = deliver_due(rt)
    assert (second.status, second.attempts, second.response_status) == ("sent", 2, 200)
    assert [r.headers["Idempotency-Key"] for r in agency.received] == [queued.id, queued.id]
    # Decided again at each attempt (new decision ids, in the audit), the same bytes each time.
    first_body, second_body = (r.body for r in agency.received)
    assert first_body == second_body == delivery(rt, queued.id).body
    tokens = [verified_claims(rt, r.headers["Authorization"].split()[1], rt.now()) for r in agency.received]
    assert tokens[0]["jti"] != tokens[1]["jti"]
    attempts = [e["details"] for e in audit_entries(rt, "disclosure.attempted")]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[0]["decisions"] != attempts[1]["decisions"]
    assert {a["payloadDigest"] for a in attempts} == {delivery(rt, queued.id).body_digest}


def test_a_client_error_fails_the_delivery(rt: Runtime, agency: Agency) -> None:
    refer_lisa(rt)
    agency.answer(400)
    [failed] = deliver_due(rt)
    assert (failed.status, failed.response_status) == ("failed", 400)
    assert failed.reason == "attempt 1 failed: the agency answered HTTP 400"
    [entry] = audit_entries(rt, "disclosure.failed")
    assert (entry["details"]["responseStatus"], entry["details"]["reasonCode"]) == (400, "refused-by-agency")


def test_too_many_requests_is_retried_not_failed(rt: Runtime, agency: Agency) -> None:
    refer_lisa(rt)
    agency.answer(429)
    [later] = deliver_due(rt)
    assert (later.status, later.response_status) == ("queued", 429)


def test_a_refused_connection_schedules_a_retry(rt: Runtime, agency: Agency) -> None:
    set_endpoint(rt, closed_port_url())
    refer_lisa(rt)
    [retry] = deliver_due(rt)
    assert (retry.status, retry.attempts, retry.response_status) == ("queued", 1, None)
    assert "could not connect to the agency endpoint" in (retry.reason or "")
    assert retry.next_attempt_at == rt.now() + dt.timedelta(seconds=30)


def test_backoff_doubles_and_the_worker_gives_up(rt: Runtime, agency: Agency, clock: Clock) -> None:
    refer_lisa(rt)
    agency.answer(*[503] * MAX_ATTEMPTS)
    waits = []
    for _ in range(MAX_ATTEMPTS):
        [summary] = deliver_due(rt)
        if summary.next_attempt_at is not None:
            waits.append(summary.next_attempt_at - rt.now())
        clock.advance(hours=1)
    assert waits == [dt.timedelta(seconds=30 * 2**n) for n in range(MAX_ATTEMPTS - 1)]
    assert summary.status == "failed"
    assert summary.reason is not None
    assert summary.reason.endswith(f"gave up after {MAX_ATTEMPTS} attempts")
    assert len(agency.received) == MAX_ATTEMPTS


def test_no_endpoint_is_retried_without_sending(rt: Runtime, agency: Agency) -> None:
    set_endpoint(rt, None)
    refer_lisa(rt)
    [retry] = deliver_due(rt)
    assert retry.status == "queued"
    assert "no delivery endpoint is registered" in (retry.reason or "")
    assert agency.received == []


def test_a_delivery_left_sending_by_a_dead_worker_is_taken_over(
    rt: Runtime, agency: Agency, clock: Clock
) -> None:
    queued = refer_lisa(rt)
    lease = lease_length(rt.settings)
    claim = Claim(owner=new_owner(), at=rt.now(), lease=lease)
    with rt.sessions.begin() as session:  # a worker claims it, then dies before sending
        outgoing, _ = delivery_worker._claim(session, rt, claim, 10)
    assert [o.delivery_id for o in outgoing] == [queued.id]
    assert lease <= dt.timedelta(seconds=30)
    clock.advance(seconds=lease.total_seconds() - 1)
    assert deliver_due(rt) == []  # still leased
    clock.advance(seconds=1)
    [taken_over] = deliver_due(rt)
    assert (taken_over.status, taken_over.attempts) == ("sent", 2)
    assert len(agency.received) == 1
    attempts = [e["details"] for e in audit_entries(rt, "disclosure.attempted")]
    assert [a["takeover"] for a in attempts] == [
        None,
        {"previousOwner": claim.owner, "leaseLapsedAt": (claim.at + lease).isoformat()},
    ]


def test_a_live_sender_keeps_its_lease_while_the_agency_is_slow(rt: Runtime, agency: Agency) -> None:
    # Real time: a 1 s lease, and an agency that takes 2.5 s to answer (within the read timeout).
    live = replace(rt, clock=utc_now, settings=replace(rt.settings, delivery_lease_seconds=1.0))
    queued = refer_lisa(rt)
    agency.hold()
    done: list[DeliverySummary] = []
    sender = threading.Thread(target=lambda: done.extend(deliver_due(live)))
    sender.start()
    agency.wait_for_requests(1)
    until = time.monotonic() + 2.5
    while time.monotonic() < until:
        assert deliver_due(live) == []  # the heartbeat renewed the lease: nothing to take over
        time.sleep(0.1)
    agency.release()
    sender.join(timeout=20)
    assert [(s.id, s.status) for s in done] == [(queued.id, "sent")]
    assert len(agency.received) == 1
    assert len(audit_entries(rt, "disclosure.delivered")) == 1
    assert delivery(rt, queued.id).lease_owner is None


def test_backoff_doubles_up_to_an_hour() -> None:
    seconds = [backoff(n).total_seconds() for n in (1, 2, 7, 8, 50)]
    assert seconds == [30, 60, 1920, 3600, 3600]


def test_two_workers_never_send_one_delivery_twice(
    rt: Runtime, agency: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the claims race (SKIP LOCKED); on SQLite BEGIN IMMEDIATE serialises them.
    # audit.checkpoint writes its file through one fixed temporary name, so two threads of one
    # process race on it (reported); serialise just that, the claims still race.
    signing = threading.Lock()
    checkpoint = delivery_worker.audit.checkpoint

    def one_at_a_time(runtime: Runtime) -> object:
        with signing:
            return checkpoint(runtime)

    monkeypatch.setattr(delivery_worker.audit, "checkpoint", one_at_a_time)
    queued = {refer_lisa(rt, note_code=f"need-{i}").id for i in range(6)}
    start = threading.Barrier(2)
    done: list[str] = []

    def worker() -> None:
        start.wait()
        while batch := deliver_due(rt, limit=1):
            done.extend(s.id for s in batch)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    keys = sorted(r.headers["Idempotency-Key"] for r in agency.received)
    assert keys == sorted(queued)
    assert sorted(done) == sorted(queued)


def test_the_command_line_refers_delivers_and_lists(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "gw"
    env = {"GATEWAY_DATABASE_URL": database_url}

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(home), *args], env=env)
        return result.exit_code, result.output

    runtime, _ = initialise(Settings(home=home, database_url=database_url), with_samples=True)
    with running_agency() as running:
        prepare(runtime, running.endpoint)
        runtime.engine.dispose()
        base = ("refer", LISA, "--from", "grand-bend-isd", "--to", FOOD_BANK, "--role", "case-worker")
        code, output = spgw(*base, "--purpose", "referral-fulfillment", "--json")
        assert code == 0, output
        queued = json.loads(output)
        denied_code, denied = spgw(*base, "--purpose", "care-coordination")
        assert (denied_code, json.loads(denied)["error"]["code"]) == (2, "not_found")
        code, output = spgw("deliver", "--once", "--json")
        assert [(d["id"], d["status"]) for d in json.loads(output)] == [(queued["id"], "sent")]
        assert len(running.received) == 1
    code, output = spgw("deliveries", "list", "--status", "sent", "--json")
    assert code == 0
    assert [(d["id"], d["status"]) for d in json.loads(output)] == [(queued["id"], "sent")]
    assert spgw("deliver", "--once")[1].strip() == "nothing due"


def relabel_clinic_identifiers_as_part2(rt: Runtime) -> None:
    """Make the clinic's identifiers Part 2 records, whose disclosure by the clinic the (minor)
    student consented to alone (42 CFR 2.14)."""
    with rt.sessions.begin() as session:
        plan = session.get(Plan, LISA)
        assert plan is not None
        document = copy.deepcopy(plan.document)
        for element in document["student"]["identifiers"]:
            if element["provenance"]["sourceOrganization"] == "riverside-health":
                element["labels"]["regime"] = "42CFRPart2"
        plan.document = document
        consent = session.get(ConsentRow, REFERRAL_CONSENT)
        assert consent is not None
        clinic = {"identifier": {"system": ORGANIZATION_SYSTEM, "value": "riverside-health"}}
        signed_by_lisa = {k: v for k, v in consent.document.items() if k != "contained"}
        consent.document = {
            **signed_by_lisa,
            "organization": [clinic],  # the clinic discloses its own records
            "extension": [{"url": SIGNER_EXTENSION, "valueCode": "student"}],
            "performer": [{"reference": "Patient/rh-55810"}],  # the extension alone is no signer
        }


def test_the_part_2_notice_travels_in_the_body(rt: Runtime, agency: Agency) -> None:
    relabel_clinic_identifiers_as_part2(rt)
    refer_lisa(rt)
    deliver_due(rt)
    [got] = agency.received
    assert got.json["notice"] == PART2_NOTICE
    types = [o["type"] for o in got.json["obligations"]]
    assert {"attach-notice", "attach-consent"} <= set(types)
    regimes = {e["labels"]["regime"] for _, e in iter_elements(got.json["plan"])}
    assert regimes == {"42CFRPart2"}  # the minor's own consent covers only the Part 2 records
