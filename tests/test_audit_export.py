"""The audit as FHIR AuditEvents (IHE BALP): each pattern's fields, R4 validity, filters, scope,
the NDJSON stream in bounded memory, and the export itself audited."""

from __future__ import annotations

import contextlib
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from gateway.core.disclosure import DecisionRecord, DisclosureRecord
from gateway.errors import InputInvalid
from gateway.service.compliance import audit
from gateway.service.compliance import audit_export as export
from gateway.service.compliance.audit_access import OPERATOR_READER, AuditReader
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow
from tests.conftest import Clock

STUDENT = "stu-export-1"


def decision(effect: str = "permit", recipient: str = "riverside-health") -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"dec-{effect}-{recipient}",
        effect=effect,
        action="read",
        source="grand-bend-isd",
        recipient=recipient,
        role="nurse",
        purpose="care-coordination",
        categories=("health",),
        basis=("ferpa-99.31-a-1",),
        obligations=({"kind": "redact", "elements": ["diagnosis"], "text": "long notice"},),
        rules=("gbisd-rh@2#schedule.x",),
        reasons=() if effect == "permit" else ("no-agreement",),
        policy_version="pol-7",
        agreements=("gbisd-rh@2",),
        consent_ids=("consent-9",),
    )


def disclosure(recipient: str = "riverside-health") -> DisclosureRecord:
    return DisclosureRecord(
        disclosure_id=f"del-{recipient}",
        flow="referral",
        sources=("grand-bend-isd",),
        recipient=recipient,
        recipient_role="agency",
        actor="worker",
        purpose="care-coordination",
        legal_basis=("consent",),
        categories=("health",),
        elements=("allergies", "plan"),
        record_count=2,
        payload_digest="sha256:abc",
        redactions=("diagnosis",),
        agreements=("gbisd-rh@2",),
        consent_ids=("consent-9",),
        decision_ids=("dec-permit-riverside-health",),
        policy_version="pol-7",
    )


def write(rt: Runtime, kind: str, details: dict[str, Any], subject: str = STUDENT) -> int:
    with rt.sessions.begin() as session:
        (entry,) = audit.record(
            session, rt, [audit.AuditDraft(kind=kind, actor="t", subject=subject, details=details)]
        )
    return entry.seq


def one(rt: Runtime, seq: int, reader: AuditReader = OPERATOR_READER) -> dict[str, Any]:
    (event,) = export.events(rt, reader, export.ExportQuery(seq=seq, kinds=()))
    AuditEvent.model_validate(event)
    return event


def codes(items: list[dict[str, Any]]) -> list[str]:
    return [c["code"] for i in items for c in i.get("type", {}).get("coding", [])]


def detail(entity: dict[str, Any]) -> dict[str, str]:
    return {d["type"]: d["valueString"] for d in entity.get("detail", [])}


@pytest.mark.parametrize(
    ("effect", "outcome", "desc"), [("permit", "0", None), ("deny", "4", "deny: no-agreement")]
)
def test_decision_is_authz_consent(rt: Runtime, effect: str, outcome: str, desc: str | None) -> None:
    seq = write(rt, "decision", decision(effect).to_details())
    event = one(rt, seq)
    assert event["id"] == f"spgw-audit-{seq}"
    assert event["type"]["code"] == "110113"
    assert event["subtype"][0]["code"] == "AuthZ-Consent"
    assert (event["action"], event["outcome"], event.get("outcomeDesc")) == ("E", outcome, desc)
    assert codes(event["agent"]) == ["IRCP", "PROV", "authserver", "110153"]
    user = event["agent"][0]
    assert user["requestor"] is True
    assert user["who"]["identifier"]["value"] == "riverside-health"
    assert user["role"][0]["coding"][0]["code"] == "nurse"
    patient, consent, dec = event["entity"]
    assert patient["what"]["identifier"]["value"] == STUDENT
    assert patient["role"]["code"] == "1"
    assert consent["type"]["code"] == "Consent"
    assert consent["what"]["identifier"]["value"] == "consent-9"
    d = detail(dec)
    assert d["decisionId"] == f"dec-{effect}-riverside-health"
    assert d["policyVersion"] == "pol-7"
    assert d["legalBasis"] == "ferpa-99.31-a-1"
    assert d["obligations"] == "redact"
    assert d["chainHash"] == entry_hash(rt, seq)
    assert "long notice" not in json.dumps(event)


def entry_hash(rt: Runtime, seq: int) -> str:
    with rt.sessions() as session:
        return str(session.scalar(select(AuditEntryRow.hash).where(AuditEntryRow.seq == seq)))


def test_disclosure_is_privacy_disclosure_source(rt: Runtime) -> None:
    seq = write(rt, "disclosure", disclosure().to_details())
    event = one(rt, seq)
    assert (event["type"]["code"], event["subtype"][0]["code"], event["action"], event["outcome"]) == (
        "110106",
        "disclose",
        "R",
        "0",
    )
    assert codes(event["agent"]) == ["110153", "110152"]
    source, recipient = event["agent"]
    assert source["requestor"] is False
    assert source["who"]["identifier"]["value"] == "grand-bend-isd"
    assert recipient["requestor"] is True
    assert recipient["altId"] == "worker"
    patient, data, consent = event["entity"]
    assert patient["what"]["identifier"] == {"system": "urn:spgw:student", "value": STUDENT}
    d = detail(data)
    assert d["payloadDigest"] == "sha256:abc"
    assert d["redactions"] == "diagnosis"
    assert d["decisionIds"] == "dec-permit-riverside-health"
    assert d["recordCount"] == "2"
    assert d["chainHash"] == entry_hash(rt, seq)
    assert d["seq"] == str(seq)
    assert consent["what"]["identifier"]["value"] == "consent-9"


def test_other_kinds_are_application_activity_only_when_asked(rt: Runtime) -> None:
    seq = write(rt, "agreement.signed", {"agreement": "x@1"})
    event = one(rt, seq)
    assert event["type"]["code"] == "110100"
    assert event["subtype"][0]["code"] == "agreement.signed"
    default = [e["id"] for e in export.events(rt, OPERATOR_READER, export.ExportQuery())]
    assert event["id"] not in default


def test_bundle_of_everything_validates_and_ids_are_stable(rt: Runtime) -> None:
    for d in (decision(), decision("deny"), disclosure()):
        write(rt, "decision" if isinstance(d, DecisionRecord) else "disclosure", d.to_details())
    everything = list(export.events(rt, OPERATOR_READER, export.ExportQuery(kinds=())))
    from gateway.formats.fhir_audit_event import bundle

    Bundle.model_validate(bundle(everything, kind="collection"))
    again = [e["id"] for e in export.events(rt, OPERATOR_READER, export.ExportQuery(kinds=()))]
    assert [e["id"] for e in everything] == again
    assert len(set(again)) == len(again)


PARTNER = AuditReader(organization_id="northside-food-bank", client_id="c", role="partner")


def test_partner_sees_only_its_own(rt: Runtime) -> None:
    mine = [
        write(rt, "decision", decision(recipient="northside-food-bank").to_details()),
        write(rt, "disclosure", disclosure("northside-food-bank").to_details()),
    ]
    write(rt, "decision", decision().to_details())
    write(rt, "disclosure", disclosure().to_details())
    write(rt, "agreement.signed", {})
    seen = [e["id"] for e in export.events(rt, PARTNER, export.ExportQuery(kinds=()))]
    assert seen == [f"spgw-audit-{s}" for s in mine]


def test_paging_covers_every_entry_once(rt: Runtime) -> None:
    written = [write(rt, "decision", decision().to_details()) for _ in range(7)]
    seen, cursor = [], 0
    while True:
        page, cursor_next = export.page(rt, OPERATOR_READER, export.ExportQuery(after_seq=cursor), 3)
        seen += [e["id"] for e in page]
        if cursor_next is None:
            break
        cursor = cursor_next
    assert [s for s in seen if int(s.rsplit("-", 1)[1]) in written] == [f"spgw-audit-{s}" for s in written]
    assert len(seen) == len(set(seen))


def test_date_filters(rt: Runtime, clock: Clock) -> None:
    import datetime as dt

    before = write(rt, "decision", decision().to_details())
    clock.now += dt.timedelta(days=2)
    after = write(rt, "decision", decision().to_details())
    day = clock.now.date().isoformat()

    def ids(*raw: str) -> list[int]:
        q = export.ExportQuery(dates=tuple(export.parse_date(r) for r in raw))
        return [int(e["id"].rsplit("-", 1)[1]) for e in export.events(rt, OPERATOR_READER, q)]

    assert after in ids(f"ge{day}")
    assert before not in ids(f"ge{day}")
    assert before in ids(f"lt{day}")
    assert after not in ids(f"lt{day}")
    assert after in ids(day)
    assert after in ids(f"le{day}")
    assert after not in ids(f"gt{day}")
    assert ids(f"ge{clock.now.isoformat()}") == [after]


@pytest.mark.parametrize("raw", ["x", "ge2026-13-01", "ge2026-01-01T10:00:00", "", "ge"])
def test_bad_dates_name_the_parameter(raw: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        export.parse_date(raw)
    assert caught.value.issues[0].path == "date"


def test_cli_bundle_and_ndjson_and_the_export_is_audited(rt: Runtime, spgw: Any, tmp_path: Path) -> None:
    write(rt, "decision", decision().to_details())
    write(rt, "disclosure", disclosure().to_details())
    code, out = spgw("audit", "export", "--format", "fhir")
    assert code == 0, out
    doc = Bundle.model_validate_json(out)
    assert doc.type == "collection"
    assert len(doc.entry or []) >= 2
    target = tmp_path / "audit.ndjson"
    code, out = spgw(
        "audit", "export", "--format", "ndjson", "--since", "2000-01-01", "--output", str(target)
    )
    assert code == 0, out
    lines = target.read_bytes().splitlines()
    assert len(lines) == len(doc.entry or [])
    assert all(AuditEvent.model_validate_json(x) for x in lines)
    with rt.sessions() as session:
        reads = session.scalars(select(AuditEntryRow).where(AuditEntryRow.kind == "audit.read")).all()
    assert [r.details["query"]["format"] for r in reads][-2:] == ["fhir", "ndjson"]
    code, out = spgw("audit", "export", "--since", "2999-01-01")
    assert code == 0, out
    assert Bundle.model_validate_json(out).entry is None  # no empty array
    code, out = spgw("audit", "export", "--since", "yesterday")
    assert code != 0
    assert "--since" in out


def test_ndjson_streams_in_bounded_memory(rt: Runtime) -> None:
    details = disclosure().to_details()
    drafts = [audit.AuditDraft(kind="disclosure", actor="t", subject=STUDENT, details=details)] * 500
    for _ in range(8):
        with rt.sessions.begin() as session:
            audit.record(session, rt, drafts)

    def run() -> tuple[int, int, float]:
        tracemalloc.start()
        started, n = time.perf_counter(), 0
        for event in export.events(rt, OPERATOR_READER, export.ExportQuery()):
            n += len(json.dumps(event)) > 0
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return n, peak, elapsed

    n, peak, elapsed = run()
    assert n >= 4000
    # 4,000 events of ~2 KB each would be ~8 MB held; a stream holds about one batch of rows.
    assert peak < 8 * 1024 * 1024, peak
    print(f"\nndjson export: {n / elapsed:.0f} AuditEvents/s, peak {peak / 1e6:.1f} MB")


def test_real_flows_export_as_their_patterns(rt: Runtime) -> None:
    """A plan read and a denied read, through the real flows, come out as BALP events."""
    from gateway.errors import GatewayError
    from gateway.formats.fhir_audit_event import bundle
    from gateway.service.views.plans import ReadRequest, read_plan
    from tests.helpers import LISA, coordinator_view, send_demo

    for prefix in ("01", "02", "05", "08"):
        send_demo(rt, prefix)
    coordinator_view(rt)
    denied = ReadRequest(
        student_id=LISA,
        organization_id="northside-food-bank",
        actor="v",
        role="coordinator",
        purpose="research",
    )
    with contextlib.suppress(GatewayError):
        read_plan(rt, denied)
    events = list(export.events(rt, OPERATOR_READER, export.ExportQuery()))
    Bundle.model_validate(bundle(events, kind="collection"))
    outcomes = {(e["type"]["code"], e["outcome"]) for e in events}
    assert ("110113", "0") in outcomes  # a permit
    assert ("110113", "4") in outcomes  # the denial
    flows = {detail(e["entity"][1])["flow"] for e in events if e["type"]["code"] == "110106"}
    assert {"inbound", "plan.read"} <= flows
    reads = [
        e for e in events if e["type"]["code"] == "110106" and detail(e["entity"][1])["flow"] == "plan.read"
    ]
    data = detail(reads[0]["entity"][1])
    assert codes(reads[0]["agent"]) == ["110153", "110152"]
    assert data["payloadDigest"]
    assert reads[0]["entity"][0]["what"]["identifier"]["value"] == LISA
    assert "Lisa" not in json.dumps(events)
