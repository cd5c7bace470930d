"""One batch of inbound records in four steps, inside the caller's transaction:

load the snapshot (a few set-based reads) -> ``core.batch`` decides (pure) -> apply its writes
(bulk statements) -> append the audit.

Everything a batch writes (students, links, plans, attendance events, the audit entries) goes in
one transaction: either all of it lands or none of it does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gateway.core import batch as core_batch
from gateway.core import batch_parts, batch_settle
from gateway.core.attendance import ABSENCE_CATEGORIES, RULE_ID, RULE_VERSION
from gateway.core.guardians import GUARDIAN_MAPPINGS
from gateway.core.identity import authority_of
from gateway.core.outcomes import ACCEPTED, FAILED, HELD, IGNORED, REJECTED, RecordOutcome
from gateway.core.plan_texts import PlanTexts
from gateway.core.policy import INBOUND, Decision, DecisionRequest, PolicySet
from gateway.core.reference_data import IGNORED_RECORDS
from gateway.formats import mapping_format
from gateway.formats.records import SourceRecord
from gateway.service.compliance import disclosures
from gateway.service.compliance.audit import AuditDraft, record
from gateway.service.exchange import reference_data
from gateway.service.fhir import fhir_served
from gateway.service.identity import guardians
from gateway.service.policy import enforcement
from gateway.service.runtime import Runtime
from gateway.storage import attendance_rows, batch_snapshot, plan_store, source_index, student_store
from gateway.storage.db import Session, without_mmap


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """The message a batch belongs to, as the pipeline needs it."""

    message_id: str
    source_org: str
    format: str
    payload_digest: str
    received_at: str
    partner: dict[str, Any]
    resource_id: str | None = None  # a FHIR create: the id the server assigned


PART_STUDENTS = 500  # students whose plans a batch holds at once (core.batch_parts)


def run_batch(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    records: list[SourceRecord],
    policy: PolicySet,
    *,
    audited: bool = True,
) -> list[RecordOutcome]:
    """``audited=False`` is for a check (service/exchange/check.py) whose transaction is always rolled back:
    its entries would vanish anyway, and taking the audit head's lock for a whole file would stall
    every audited write meanwhile. A batch larger than a part (a bulk file's) reads without SQLite's
    mmap (``storage.db.without_mmap``); an HTTP POST's keeps it."""
    if len(records) <= PART_STUDENTS:
        return _run_batch(session, rt, exchange, records, policy, audited=audited)
    with without_mmap(session):
        return _run_batch(session, rt, exchange, records, policy, audited=audited)


def _run_batch(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    records: list[SourceRecord],
    policy: PolicySet,
    *,
    audited: bool,
) -> list[RecordOutcome]:
    now = rt.now()
    records = fhir_served.with_assigned_id(records, exchange.resource_id, exchange.partner)
    sender = _sender(exchange)
    kept: dict[int, RecordOutcome] = {}
    reference_data.keep(
        session, rt, (exchange.source_org, exchange.message_id, sender.family), records, kept, now
    )
    rules = _rules(rt, exchange, policy, now)
    prepared = core_batch.prepare(records, sender, rules, kept)
    result = _settle_in_parts(session, exchange, prepared, (sender, rules), now)
    outcomes = dict(result.by_index)
    links = _store_guardian_links(session, rt, exchange, result, outcomes, now)
    _serve_fhir(session, rt, exchange, result, outcomes, now)
    ordered = [outcomes[i] for i in sorted(outcomes)]
    if audited:
        record(session, rt, _drafts(exchange, ordered, policy, result.writes, links))
    return ordered


def premap(rt: Runtime, exchange: Exchange) -> core_batch.Premap:
    """The mapping of the exchange's records, to run where a bulk file is parsed."""
    sender = _sender(exchange)
    entities = [entity for family, entity in rt.artifacts.mappings if family == sender.family]
    return core_batch.premap_for(sender, rt.artifacts.mapping_for, rt.artifacts.codes, entities)


def _sender(exchange: Exchange) -> core_batch.Sender:
    return core_batch.Sender(
        source_org=exchange.source_org,
        message_id=exchange.message_id,
        format=exchange.format,
        family=mapping_format(exchange.format),
        received_at=exchange.received_at,
        identifier_systems=exchange.partner.get("identifier_systems", {}),
        authority=authority_of(exchange.partner),
    )


def _rules(rt: Runtime, exchange: Exchange, policy: PolicySet, now: Any) -> core_batch.Rules:
    decisions: dict[frozenset[str], Decision] = {}

    def decide(categories: frozenset[str]) -> Decision:
        if categories not in decisions:
            request = DecisionRequest(
                action=INBOUND, source_org=exchange.source_org, recipient_org="", categories=categories
            )
            decisions[categories] = enforcement.enforce("inbound", request, policy, (), now)
        return decisions[categories]

    codes = rt.artifacts.codes
    return core_batch.Rules(
        mapping_for=rt.artifacts.mapping_for,
        codes=codes,
        element_validators=rt.artifacts.element_validators,
        decide=decide,
        ignored=codes.get(IGNORED_RECORDS, {}),
        absence_categories=codes.get(ABSENCE_CATEGORIES, {}),
    )


def _settle_in_parts(
    session: Session,
    exchange: Exchange,
    prepared: core_batch.Prepared,
    decided_by: tuple[core_batch.Sender, core_batch.Rules],
    now: Any,
) -> core_batch.BatchResult:
    """Load, settle and write the batch, a part of at most ``PART_STUDENTS`` students at a time
    (``core.batch_parts``): each part's plans and events are read after the part before it is
    written; the identifiers' links are read once for the batch."""
    sender, rules = decided_by
    links = student_store.links_for(session, prepared.identifiers())
    parts = batch_parts.parts(prepared, links, PART_STUDENTS)
    results = []
    for part in parts:
        snapshot, rows = _load(session, part, batch_parts.links_within(part, links))
        result = batch_settle.settle(part, snapshot, sender, rules, now)
        _apply(session, exchange, result.writes, rows, now)
        results.append(batch_parts.written(result))
    return results[0] if len(results) == 1 else batch_parts.combined(results, prepared)


def _load(
    session: Session, prepared: core_batch.Prepared, links: dict[core_batch.Identifier, str]
) -> tuple[core_batch.Snapshot, dict[str, Any]]:
    """The snapshot in a few set-based reads (the links are read by the caller); the plan rows are
    kept to write back to."""
    rows = plan_store.stored_plans(session, set(links.values()))
    attending = {links[i] for i in prepared.attendance_identifiers() if i in links}
    snapshot = core_batch.Snapshot(
        links=links,
        plans=PlanTexts({student: row.text for student, row in rows.items()}),
        event_keys=attendance_rows.attendance_content_keys(session, prepared.event_ids()),
        events=batch_snapshot.stored_attendance(session, attending, prepared.event_ids()),
    )
    return snapshot, rows


def _apply(
    session: Session, exchange: Exchange, writes: core_batch.BatchWrites, rows: dict[str, Any], now: Any
) -> None:
    # Bulk statements, each written when called: the students before the rows referring to them.
    student_store.insert_students(session, writes.students, now)
    student_store.insert_links(session, writes.links, exchange.message_id, now)
    plan_store.save_plans(session, writes.plans, rows, now)
    attendance_rows.upsert_attendance_events(session, list(writes.events))
    source_index.index_source_records(session, list(writes.sources), now)


def _store_guardian_links(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    result: core_batch.BatchResult,
    outcomes: dict[int, RecordOutcome],
    now: Any,
) -> guardians.BatchLinks | None:
    """Accepted contact, parent and family-user records link a parent or guardian to their
    student, beside the plan (service/identity/guardians.py); a record that links nobody says why."""
    accepted = [
        guardians.AcceptedRecord(
            index=i,
            student_id=outcomes[i].student_id or "",
            mapping_id=item.result.mapping_id,
            entity=item.record.entity,
            source_id=item.result.source_id,
            data=item.record.data,
        )
        for i, item in result.mapped.items()
        # Only a guardian mapping's record makes a claim: no other record's data is read here.
        if outcomes[i].status == ACCEPTED
        and outcomes[i].student_id
        and item.result.mapping_id in GUARDIAN_MAPPINGS
    ]
    links = guardians.record_links(
        session,
        source_org=exchange.source_org,
        message_id=exchange.message_id,
        identifier_systems=exchange.partner.get("identifier_systems", {}),
        codes=rt.artifacts.codes,
        records=accepted,
        now=now,
    )
    for index, note in (links.notes if links is not None else {}).items():
        outcomes[index] = dataclasses.replace(outcomes[index], reason=note)
    return links


def _serve_fhir(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    result: core_batch.BatchResult,
    outcomes: dict[int, RecordOutcome],
    now: Any,
) -> None:
    """FHIR records that landed become resources ``/fhir/r4`` serves, in this transaction."""
    family = mapping_format(exchange.format)
    if family != fhir_served.FHIR_FAMILY:
        return
    landed = []
    for i, item in sorted(result.mapped.items()):
        mapping = rt.artifacts.mapping_for(family, item.record.entity)
        labels = mapping.labels if mapping is not None else None
        landed.append(
            fhir_served.Landed(
                record=item.record,
                outcome=outcomes[i],
                element_labels=tuple(e.element.get("labels", {}) for e in item.result.elements),
                mapping_labels=labels.to_dict() if labels is not None else {},
                client_id=fhir_served.client_id_of(item.record.data, exchange.source_org, exchange.partner)
                if exchange.resource_id
                else None,
                tokens=item.search_tokens,
                references=item.references,
            )
        )
    sender = fhir_served.Sender(
        source_org=exchange.source_org, message_id=exchange.message_id, resource_id=exchange.resource_id
    )
    fhir_served.serve(session, sender, landed, now)


def _drafts(
    exchange: Exchange,
    outcomes: list[RecordOutcome],
    policy: PolicySet,
    writes: core_batch.BatchWrites,
    links: guardians.BatchLinks | None,
) -> list[AuditDraft]:
    drafts = [_audit_draft(exchange, outcomes, policy), *_inbound_drafts(exchange, outcomes, policy)]
    if links is not None and (links.linked or links.removed):
        drafts.append(guardians.links_draft(exchange.source_org, exchange.message_id, links))
    if writes.derived_changed:
        drafts.append(
            AuditDraft(
                kind="attendance.derived",
                actor=exchange.source_org,
                subject="",
                details={
                    "messageId": exchange.message_id,
                    "rule": f"{RULE_ID}@{RULE_VERSION}",
                    "students": list(writes.derived_students),
                    "elementsChanged": writes.derived_changed,
                },
            )
        )
    return drafts


def _inbound_drafts(exchange: Exchange, outcomes: list[RecordOutcome], policy: PolicySet) -> list[AuditDraft]:
    """One disclosure entry per student the exchange brought records about (compliance/disclosures)."""
    by_student: dict[str, list[RecordOutcome]] = {}
    for o in outcomes:
        if o.student_id and o.status == ACCEPTED:
            by_student.setdefault(o.student_id, []).append(o)
    return [
        disclosures.inbound_draft(
            disclosures.Received(
                student_id=student,
                source=exchange.source_org,
                message_id=exchange.message_id,
                payload_digest=exchange.payload_digest,
                records=len(found),
                decision_ids=tuple(sorted({o.decision_id for o in found if o.decision_id})),
                policy_version=policy.version,
            )
        )
        for student, found in sorted(by_student.items())
    ]


def _audit_draft(exchange: Exchange, outcomes: list[RecordOutcome], policy: PolicySet) -> AuditDraft:
    students = sorted({o.student_id for o in outcomes if o.student_id and o.status == ACCEPTED})
    decisions = sorted({o.decision_id for o in outcomes if o.decision_id})
    return AuditDraft(
        kind="exchange.inbound",
        actor=exchange.source_org,
        subject="",
        details={
            "messageId": exchange.message_id,
            "format": exchange.format,
            "payloadDigest": exchange.payload_digest,
            "records": len(outcomes),
            "accepted": sum(o.status == ACCEPTED for o in outcomes),
            "rejected": sum(o.status == REJECTED for o in outcomes),
            "held": sum(o.status == HELD for o in outcomes),
            "failed": sum(o.status == FAILED for o in outcomes),
            "ignored": sum(o.status == IGNORED for o in outcomes),
            "elementsChanged": sum(o.changed for o in outcomes),
            "students": students,
            "decisions": decisions,
            "policyVersion": policy.version,
        },
    )
