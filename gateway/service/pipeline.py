"""One batch of records through the pipeline, inside the caller's transaction:

map -> decide (inbound) -> identify -> merge -> validate -> audit.

Everything a batch writes (students, links, plans, the audit entry) goes in one transaction:
either all of it lands or none of it does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from gateway.core.attendance import EVENT_MAPPINGS, FACTS, school_of
from gateway.core.identity import authority_of, resolve_student
from gateway.core.limits import SCHOOL_ID_MAX
from gateway.core.mapping import (
    MappingContext,
    MappingResult,
    PlanElement,
    apply_mapping,
)
from gateway.core.plan import empty_plan, merge_elements
from gateway.core.policy import INBOUND, Decision, DecisionRequest, PolicySet
from gateway.core.reference_data import ignored_reason
from gateway.core.referral_status import refused_status_updates
from gateway.errors import Issue, MappingFailed
from gateway.formats import mapping_format
from gateway.formats.records import SourceRecord
from gateway.service import attendance as attendance_store
from gateway.service import disclosures, enforcement, fhir_served, guardians, reference_data
from gateway.service.audit import AuditDraft, record
from gateway.service.outcomes import ACCEPTED, FAILED, HELD, IGNORED, REJECTED, RecordOutcome
from gateway.service.runtime import Runtime
from gateway.storage import plan_store, source_index, student_store

# The crosswalk of records deliberately not mapped: "<mapping family>|<entity>" -> the reason.
IGNORED_RECORDS = "ignored-records"


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


@dataclass(frozen=True, kw_only=True)
class _Mapped:
    record: SourceRecord
    result: MappingResult
    decision: Decision
    withheld: str = ""  # why some of the record's elements were not kept (the rest landed)


def run_batch(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    records: list[SourceRecord],
    policy: PolicySet,
    *,
    audited: bool = True,
) -> list[RecordOutcome]:
    """``audited=False`` is for a check (service/check.py) whose transaction is always rolled back:
    its entries would vanish anyway, and taking the audit head's lock for a whole file would stall
    every audited write meanwhile."""
    now = rt.now()
    outcomes: dict[int, RecordOutcome] = {}
    records = fhir_served.with_assigned_id(records, exchange.resource_id, exchange.partner)
    sender = (exchange.source_org, exchange.message_id, mapping_format(exchange.format))
    reference_data.keep(session, rt, sender, records, outcomes, now)  # reference records: not mapped
    mapped = _map_and_decide(rt, exchange, records, policy, now, outcomes)
    elements = _identify(session, exchange, mapped, outcomes, now)
    events = _take_events(exchange, mapped, elements)
    guardians.leave_out(elements, lambda i: mapped[i].result.mapping_id)
    _merge(session, rt, elements, mapped, outcomes, now)
    _store_events(session, rt, events, mapped, outcomes, now)
    links = _store_guardian_links(session, rt, exchange, mapped, outcomes, now)
    _index_sources(session, exchange, mapped, outcomes, now)
    _serve_fhir(session, rt, exchange, mapped, outcomes, now)
    _mark_attendance_inputs(mapped, outcomes)
    ordered = [outcomes[i] for i in sorted(outcomes)]
    drafts = [_audit_draft(exchange, ordered, policy), *_inbound_drafts(exchange, ordered, policy)]
    if links is not None and (links.linked or links.removed):
        drafts.append(guardians.links_draft(exchange.source_org, exchange.message_id, links))
    if audited:
        record(session, rt, drafts)
    return ordered


def _map_and_decide(
    rt: Runtime,
    exchange: Exchange,
    records: list[SourceRecord],
    policy: PolicySet,
    now: dt.datetime,
    outcomes: dict[int, RecordOutcome],
) -> dict[int, _Mapped]:
    decisions: dict[frozenset[str], Decision] = {}
    mapped: dict[int, _Mapped] = {}
    for index, rec in enumerate(records):
        if index in outcomes:  # kept as reference data
            continue
        family = mapping_format(exchange.format)
        mapping = rt.artifacts.mapping_for(family, rec.entity)
        if mapping is None:
            ignored = ignored_reason(rt.artifacts.codes.get(IGNORED_RECORDS, {}), family, rec.entity)
            if ignored is not None:
                outcomes[index] = RecordOutcome(location=rec.location, status=IGNORED, reason=str(ignored))
                continue
            outcomes[index] = _rejected(
                rec,
                f"no mapping for {exchange.format} entity '{rec.entity}'; add one under mappings/ and replay",
            )
            continue
        try:
            result = apply_mapping(mapping, rec.data, _context(rt, exchange, rec))
        except MappingFailed as exc:
            outcomes[index] = _rejected(rec, exc.message, exc.issues)
            continue
        school_issue = _school_issue(result, rec)
        if school_issue is not None:
            outcomes[index] = _rejected(rec, "the attendance event cannot be stored", (school_issue,))
            continue

        def decide(categories: frozenset[str]) -> Decision:
            if categories not in decisions:
                request = DecisionRequest(
                    action=INBOUND, source_org=exchange.source_org, recipient_org="", categories=categories
                )
                decisions[categories] = enforcement.enforce("inbound", request, policy, (), now)
            return decisions[categories]

        categories = result.categories | {mapping.labels.category}
        decision = decide(categories)
        withheld = ""
        if not decision.permitted:
            result, decision, withheld = _narrowed(result, mapping.labels.category, decision, decide)
        if not decision.permitted:
            outcomes[index] = _rejected(rec, "denied by policy: " + "; ".join(decision.reasons))
            outcomes[index] = _with_decision(outcomes[index], decision)
            continue
        mapped[index] = _Mapped(record=rec, result=result, decision=decision, withheld=withheld)
    return mapped


def _narrowed(
    result: MappingResult,
    own_category: str,
    denied: Decision,
    decide: Callable[[frozenset[str]], Decision],
) -> tuple[MappingResult, Decision, str]:
    """A record whose own category the agreement covers lands without the elements of the
    categories it does not (a new part of a mapping, such as an address's location, must not cost
    a sender its whole record); a record whose own category is not covered stays refused."""
    categories = result.categories | {own_category}
    kept = frozenset(c for c in categories if decide(frozenset({c})).permitted)
    if own_category not in kept:
        return result, denied, ""
    decision = decide(kept)
    if not decision.permitted:
        return result, denied, ""
    elements = tuple(e for e in result.elements if e.element["labels"]["category"] in kept)
    dropped = ", ".join(sorted(categories - kept))
    why = f"elements of category {dropped} not kept: the agreement does not cover them from this sender"
    return replace(result, elements=elements), decision, why


def _school_issue(result: MappingResult, rec: SourceRecord) -> Issue | None:
    """An attendance event is stored under its school (``core.limits.SCHOOL_ID_MAX``): refused, never cut."""
    school = school_of(result.mapping_id, rec.data) if result.mapping_id in EVENT_MAPPINGS else None
    if school is None or len(school) <= SCHOOL_ID_MAX:
        return None
    path = "$." + ".".join(EVENT_MAPPINGS[result.mapping_id])
    return Issue(path=path, message=f"a school id is at most {SCHOOL_ID_MAX} characters")


def _context(rt: Runtime, exchange: Exchange, rec: SourceRecord) -> MappingContext:
    return MappingContext(
        source_org=exchange.source_org,
        message_id=exchange.message_id,
        received_at=exchange.received_at,
        record_digest=rec.digest,
        identifier_systems=exchange.partner.get("identifier_systems", {}),
        codes=rt.artifacts.codes,
        trace=False,
    )


def _identify(
    session: Session,
    exchange: Exchange,
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> dict[str, list[tuple[int, PlanElement]]]:
    links = student_store.links_for(session, (i for m in mapped.values() for i in m.result.subject))
    new_students: set[str] = set()
    new_links: list[tuple[str, str, str]] = []
    by_student: dict[str, list[tuple[int, PlanElement]]] = defaultdict(list)
    authority, family = authority_of(exchange.partner), mapping_format(exchange.format)
    for index, item in mapped.items():
        result = item.result
        refused = authority.refusal(family, result.subject)  # who may register: the source's setting
        found = resolve_student(result.subject, links, may_create=result.may_create_subject, refused=refused)
        if found.student_id is None:
            outcomes[index] = RecordOutcome(location=item.record.location, status=HELD, reason=found.reason)
            continue
        if found.created:
            new_students.add(found.student_id)
        if found.created or _links_identifiers(result):
            for system, value in found.new_links:
                links[(system, value)] = found.student_id
                new_links.append((system, value, found.student_id))
        by_student[found.student_id].extend((index, e) for e in result.elements)
        outcomes[index] = RecordOutcome(
            location=item.record.location,
            status=ACCEPTED,
            reason=item.withheld,
            student_id=found.student_id,
            decision_id=item.decision.decision_id,
        )
    student_store.add_students(session, sorted(new_students), now)
    student_store.add_links(session, new_links, exchange.message_id, now)
    return by_student


def _links_identifiers(result: MappingResult) -> bool:
    return any(e.slot == "student.identifiers" for e in result.elements)


def _merge(
    session: Session,
    rt: Runtime,
    by_student: dict[str, list[tuple[int, PlanElement]]],
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> None:
    rows = plan_store.plans_for(session, by_student)
    for student_id, items in sorted(by_student.items()):
        row = rows.get(student_id)
        current = row.document if row is not None else empty_plan(student_id)
        items = _without_refused_updates(current, items, mapped, outcomes)
        if not items:
            continue
        merged = merge_elements(current, (e for _, e in items))
        changed = set(merged.changed)
        problems = _element_problems(rt, items, changed) if changed else []
        indexes = sorted({i for i, _ in items})
        if problems:
            for i in indexes:
                outcomes[i] = RecordOutcome(
                    location=mapped[i].record.location,
                    status=FAILED,
                    reason="the mapped plan does not validate against the Success Plan schema; "
                    "fix the mapping and replay",
                    issues=tuple(problems),
                )
            continue
        if changed:
            plan_store.save_plan(session, row, student_id, merged.plan, now)
        for i in indexes:
            count = sum(1 for j, e in items if j == i and e.element["id"] in changed)
            outcomes[i] = RecordOutcome(
                location=outcomes[i].location,
                status=ACCEPTED,
                reason=outcomes[i].reason,
                student_id=student_id,
                changed=count,
                decision_id=outcomes[i].decision_id,
            )


def _without_refused_updates(
    plan: dict[str, Any],
    items: list[tuple[int, PlanElement]],
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
) -> list[tuple[int, PlanElement]]:
    """A referral Task may only move its support along the Gravity state machine; a refused
    record is rejected with the reason (and kept for replay), the rest of the batch lands."""
    refused = refused_status_updates(plan, items)
    for index, reason in refused.items():
        outcomes[index] = _with_decision(_rejected(mapped[index].record, reason), mapped[index].decision)
    return [(i, e) for i, e in items if i not in refused]


def _take_events(
    exchange: Exchange,
    mapped: dict[int, _Mapped],
    by_student: dict[str, list[tuple[int, PlanElement]]],
) -> list[attendance_store.EventToStore]:
    """Move attendance events out of the plan merge: they are stored as rows (see attendance)."""
    events: list[attendance_store.EventToStore] = []
    for student_id, items in list(by_student.items()):
        kept = []
        for index, element in items:
            item = mapped[index]
            school = _event_school(item, element)
            if school is None:
                kept.append((index, element))
                continue
            events.append(
                attendance_store.EventToStore(
                    index=index,
                    student_id=student_id,
                    source_org=exchange.source_org,
                    school=school,
                    entity=item.record.entity,
                    source_id=item.result.source_id,
                    record_digest=item.record.digest,
                    element=element,
                )
            )
        if kept:
            by_student[student_id] = kept
        else:
            del by_student[student_id]
    return events


def _event_school(item: _Mapped, element: PlanElement) -> str | None:
    if item.result.mapping_id not in EVENT_MAPPINGS or element.slot != FACTS:
        return None
    return school_of(item.result.mapping_id, item.record.data)


def _store_events(
    session: Session,
    rt: Runtime,
    events: list[attendance_store.EventToStore],
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> None:
    """Validate the new or changed events; store those of records that are still accepted."""
    changed = attendance_store.changed_events(session, events)
    keep = []
    for item in changed:
        outcome = outcomes[item.index]
        if outcome.status != ACCEPTED:
            continue
        problems = _element_problems(rt, [(item.index, item.element)], {str(item.element.element["id"])})
        if problems:
            outcomes[item.index] = RecordOutcome(
                location=mapped[item.index].record.location,
                status=FAILED,
                reason="the mapped event does not validate against the Success Plan schema; "
                "fix the mapping and replay",
                issues=tuple(problems),
            )
            continue
        keep.append(item)
        outcomes[item.index] = dataclasses.replace(outcome, changed=outcome.changed + 1)
    attendance_store.store_events(session, keep, now)


def _store_guardian_links(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> guardians.BatchLinks | None:
    """Accepted contact, parent and family-user records link a parent or guardian to their
    student, beside the plan (service/guardians.py); a record that links nobody says why."""
    accepted = [
        guardians.AcceptedRecord(
            index=i,
            student_id=outcomes[i].student_id or "",
            mapping_id=item.result.mapping_id,
            entity=item.record.entity,
            source_id=item.result.source_id,
            data=item.record.data,
        )
        for i, item in mapped.items()
        if outcomes[i].status == ACCEPTED and outcomes[i].student_id
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


def _mark_attendance_inputs(mapped: dict[int, _Mapped], outcomes: dict[int, RecordOutcome]) -> None:
    """Accepted events and enrollments change what the attendance summary is derived from."""
    for index, item in mapped.items():
        outcome = outcomes[index]
        if outcome.status == ACCEPTED and (
            item.result.mapping_id in EVENT_MAPPINGS
            or any(e.slot == "student.enrollments" for e in item.result.elements)
        ):
            outcomes[index] = dataclasses.replace(outcome, attendance=True)


def _index_sources(
    session: Session,
    exchange: Exchange,
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> None:
    """Remember which plan each accepted record reached, so a later delete can retract it."""
    rows = [
        (
            exchange.source_org,
            item.record.entity,
            item.result.source_id,
            outcomes[i].student_id or "",
            item.record.digest,
            exchange.message_id,
        )
        for i, item in mapped.items()
        if outcomes[i].status == ACCEPTED and outcomes[i].student_id
    ]
    source_index.index_source_records(session, rows, now)


def _serve_fhir(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    mapped: dict[int, _Mapped],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> None:
    """FHIR records that landed become resources ``/fhir/r4`` serves, in this transaction."""
    family = mapping_format(exchange.format)
    if family != fhir_served.FHIR_FAMILY:
        return
    landed = []
    for i, item in sorted(mapped.items()):
        mapping = rt.artifacts.mapping_for(family, item.record.entity)
        labels = mapping.labels if mapping is not None else None
        landed.append(
            fhir_served.Landed(
                data=item.record.data,
                location=item.record.location,
                outcome=outcomes[i],
                element_labels=tuple(e.element.get("labels", {}) for e in item.result.elements),
                mapping_labels=dataclasses.asdict(labels) if labels is not None else {},
                client_id=fhir_served.client_id_of(item.record.data, exchange.source_org, exchange.partner)
                if exchange.resource_id
                else None,
            )
        )
    sender = fhir_served.Sender(
        source_org=exchange.source_org, message_id=exchange.message_id, resource_id=exchange.resource_id
    )
    fhir_served.serve(session, sender, landed, now)


def _element_problems(rt: Runtime, items: list[tuple[int, PlanElement]], changed: set[str]) -> list[Issue]:
    """Only changed elements are checked, each against its slot's element schema."""
    problems: list[Issue] = []
    for _, item in items:
        if item.element["id"] not in changed:
            continue
        validator = rt.artifacts.element_validators[item.slot]
        where = f"{item.slot}[{item.element['id']}]"
        # The validator's own message can quote the value; name only where and which rule.
        problems.extend(
            Issue(
                path=where + _json_path(error.instance_path),
                message=f"violates the {_rule(error)} rule of the schema",
            )
            for error in validator.iter_errors(dict(item.element))
        )
    return problems[:20]


def _json_path(parts: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _rule(error: Any) -> str:
    return type(error.kind).__name__


def _rejected(rec: SourceRecord, reason: str, issues: tuple[Issue, ...] = ()) -> RecordOutcome:
    return RecordOutcome(location=rec.location, status=REJECTED, reason=reason, issues=issues)


def _with_decision(outcome: RecordOutcome, decision: Decision) -> RecordOutcome:
    return RecordOutcome(
        location=outcome.location,
        status=outcome.status,
        reason=outcome.reason,
        issues=outcome.issues,
        decision_id=decision.decision_id,
    )


def _inbound_drafts(exchange: Exchange, outcomes: list[RecordOutcome], policy: PolicySet) -> list[AuditDraft]:
    """One disclosure entry per student the exchange brought records about (service/disclosures)."""
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
