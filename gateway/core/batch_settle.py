"""The second half of a batch (``core.batch``): identify, merge, validate and derive, in memory.

Given what ``prepare`` mapped and decided and the ``Snapshot`` of what the batch touches, it
returns every record's outcome and the ``BatchWrites``. Pure: no database, file or clock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.core import batch_attendance
from gateway.core.attendance import DerivationContext, school_of
from gateway.core.batch import (
    BatchResult,
    BatchWrites,
    Identifier,
    Prepared,
    Record,
    Rules,
    Sender,
    Snapshot,
    attendance_input,
    is_event,
    rejected,
)
from gateway.core.batch_attendance import EventToStore
from gateway.core.guardians import GUARDIAN_MAPPINGS
from gateway.core.identity import resolve_student
from gateway.core.mapping import PlanElement
from gateway.core.outcomes import ACCEPTED, FAILED, HELD, RecordOutcome
from gateway.core.plan import empty_plan, merge_elements
from gateway.core.plan_texts import PlanTexts, decode_plan, encode_plan
from gateway.core.referral_status import refused_status_updates
from gateway.errors import Issue


def settle(
    prepared: Prepared, snapshot: Snapshot, sender: Sender, rules: Rules, now: dt.datetime
) -> BatchResult:
    """Identify, merge, validate and derive: every record's outcome and what the batch writes."""
    run = _Run(prepared=prepared, snapshot=snapshot, sender=sender, rules=rules, now=now)
    by_student = run.identify()
    events = run.take_events(by_student)
    run.merge(by_student)
    event_rows = run.keep_events(events)
    derived = run.derive_attendance(events, event_rows)
    writes = BatchWrites(
        students=tuple(sorted(run.new_students)),
        links=tuple(run.new_links),
        plans=PlanTexts(run.plans),
        events=tuple(event_rows),
        sources=run.source_rows(),
        derived_students=tuple(sorted(derived)),
        derived_changed=sum(derived.values()),
    )
    ordered = tuple(run.outcomes[i] for i in sorted(run.outcomes))
    return BatchResult(outcomes=ordered, writes=writes, mapped=prepared.mapped, by_index=run.outcomes)


@dataclass
class _Run:
    """The working state of one ``settle``; never leaves this module."""

    prepared: Prepared
    snapshot: Snapshot
    sender: Sender
    rules: Rules
    now: dt.datetime
    outcomes: dict[int, RecordOutcome] = field(default_factory=dict)
    links: dict[Identifier, str] = field(default_factory=dict)
    new_students: set[str] = field(default_factory=set)
    new_links: list[tuple[str, str, str]] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)  # student -> the plan written, as JSON text

    def __post_init__(self) -> None:
        self.outcomes = dict(self.prepared.outcomes)
        self.links = dict(self.snapshot.links)

    def plan_of(self, student_id: str) -> Mapping[str, Any]:
        return self.written_or_stored(student_id) or empty_plan(student_id)

    def written_or_stored(self, student_id: str) -> Mapping[str, Any] | None:
        """The plan as this batch has written it so far, else as stored (None: it has none)."""
        if student_id in self.plans:
            return decode_plan(self.plans[student_id])
        return self.snapshot.plans.get(student_id)

    def identify(self) -> dict[str, list[tuple[int, PlanElement]]]:
        by_student: dict[str, list[tuple[int, PlanElement]]] = defaultdict(list)
        authority, family = self.sender.authority, self.sender.family
        for index, item in self.prepared.mapped.items():
            result = item.result
            # The authority only bears on a record that may register a student (``resolve_student``).
            refused = authority.refusal(family, result.subject) if result.may_create_subject else ""
            found = resolve_student(
                result.subject, self.links, may_create=result.may_create_subject, refused=refused
            )
            if found.student_id is None:
                self.outcomes[index] = RecordOutcome(
                    location=item.record.location, status=HELD, reason=found.reason
                )
                continue
            if found.created:
                self.new_students.add(found.student_id)
            if found.created or any(e.slot == "student.identifiers" for e in result.elements):
                for system, value in found.new_links:
                    self.links[(system, value)] = found.student_id
                    self.new_links.append((system, value, found.student_id))
            if result.mapping_id not in GUARDIAN_MAPPINGS:  # a guardian link is kept beside the plan
                by_student[found.student_id].extend((index, e) for e in result.elements)
            self.outcomes[index] = RecordOutcome(
                location=item.record.location,
                status=ACCEPTED,
                reason=item.withheld,
                student_id=found.student_id,
                decision_id=item.decision.decision_id,
            )
        return by_student

    def take_events(self, by_student: dict[str, list[tuple[int, PlanElement]]]) -> list[EventToStore]:
        """Attendance events leave the plan merge: they are stored as rows."""
        events: list[EventToStore] = []
        for student_id, items in list(by_student.items()):
            kept = []
            for index, element in items:
                item = self.prepared.mapped[index]
                if not is_event(item, element):
                    kept.append((index, element))
                    continue
                events.append(
                    EventToStore(
                        index=index,
                        student_id=student_id,
                        source_org=self.sender.source_org,
                        school=str(school_of(item.result.mapping_id, item.record.data)),
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

    def merge(self, by_student: dict[str, list[tuple[int, PlanElement]]]) -> None:
        for student_id, items in sorted(by_student.items()):
            current = self.plan_of(student_id)
            items = self._without_refused_updates(current, items)
            if not items:
                continue
            merged = merge_elements(current, (e for _, e in items))
            changed = set(merged.changed)
            problems = element_problems(self.rules.element_validators, items, changed) if changed else []
            indexes = sorted({i for i, _ in items})
            if problems:
                for i in indexes:
                    self.outcomes[i] = _failed(self.prepared.mapped[i].record, "plan", problems)
                continue
            if changed:
                self.plans[student_id] = encode_plan(merged.plan)
            counts = Counter(j for j, e in items if e.element["id"] in changed)
            for i in indexes:
                self.outcomes[i] = replace(self.outcomes[i], changed=counts[i], issues=())

    def _without_refused_updates(
        self, plan: Mapping[str, Any], items: list[tuple[int, PlanElement]]
    ) -> list[tuple[int, PlanElement]]:
        """A referral Task may only move its support along the Gravity state machine; a refused
        record is rejected with the reason (and kept for replay), the rest of the batch lands."""
        refused = refused_status_updates(plan, items)
        for index, reason in refused.items():
            item = self.prepared.mapped[index]
            self.outcomes[index] = replace(
                rejected(item.record, reason), decision_id=item.decision.decision_id
            )
        return [(i, e) for i, e in items if i not in refused]

    def keep_events(self, events: list[EventToStore]) -> list[dict[str, Any]]:
        """Rows for the new or changed events of records that are still accepted, each validated."""
        rows = []
        for item in batch_attendance.changed_events(events, self.snapshot.event_keys):
            outcome = self.outcomes[item.index]
            if outcome.status != ACCEPTED:
                continue
            validators = self.rules.element_validators
            problems = element_problems(validators, [(item.index, item.element)], {item.element_id})
            if problems:
                self.outcomes[item.index] = _failed(
                    self.prepared.mapped[item.index].record, "event", problems
                )
                continue
            rows.append(batch_attendance.event_row(item, self.now))
            self.outcomes[item.index] = replace(outcome, changed=outcome.changed + 1)
        return rows

    def derive_attendance(
        self, events: list[EventToStore], kept_rows: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Recompute the summary of every student this batch brought events or enrollments for
        (also when nothing changed: the summary counts school days up to today)."""
        written = {str(row["element_id"]) for row in kept_rows}
        fresh: dict[str, dict[str, EventToStore]] = defaultdict(dict)  # student -> element id -> event
        for event in events:
            if event.element_id in written:
                fresh[event.student_id][event.element_id] = event
        firsts: dict[str, int] = {}
        for index, item in sorted(self.prepared.mapped.items()):
            outcome = self.outcomes[index]
            if outcome.status == ACCEPTED and outcome.student_id and attendance_input(item.result):
                firsts.setdefault(outcome.student_id, index)
        changed: dict[str, int] = {}
        for student_id, first in sorted(firsts.items()):
            plan = self.written_or_stored(student_id)
            if plan is None:
                continue  # no plan, so no enrollment: nothing to derive from
            # the stored events one by one (those the batch may replace) and the rest aggregated
            found = self.snapshot.events.get(student_id, ())
            stored = {e.element_id: e.event for e in found}
            stored.update({k: batch_attendance.as_stored(i).event for k, i in fresh[student_id].items()})
            context = DerivationContext(
                student_id=student_id, message_id=self.sender.message_id, received_at=self.sender.received_at
            )
            derived = batch_attendance.derive(
                plan,
                stored.values(),
                context,
                categories=self.rules.absence_categories,
                as_of=self.now.date(),
                validators=self.rules.element_validators,
                groups=batch_attendance.groups_of(found),
            )
            if derived.changed:
                self.plans[student_id] = encode_plan(derived.plan)
                changed[student_id] = derived.changed
                # the summary's elements count as changed by the first record that led to them
                self.outcomes[first] = replace(
                    self.outcomes[first], changed=self.outcomes[first].changed + derived.changed
                )
        return changed

    def source_rows(self) -> tuple[tuple[str, str, str, str, str, str], ...]:
        """Which plan each accepted record reached, so a later delete can retract it."""
        return tuple(
            (
                self.sender.source_org,
                item.record.entity,
                item.result.source_id,
                self.outcomes[i].student_id or "",
                item.record.digest,
                self.sender.message_id,
            )
            for i, item in self.prepared.mapped.items()
            if self.outcomes[i].status == ACCEPTED and self.outcomes[i].student_id
        )


def element_problems(
    validators: Mapping[str, Any], items: Sequence[tuple[int, PlanElement]], changed: set[str]
) -> list[Issue]:
    """Only changed elements are checked, each against its slot's element schema."""
    problems: list[Issue] = []
    for _, item in items:
        if item.element["id"] not in changed:
            continue
        element = item.element if type(item.element) is dict else dict(item.element)
        validator = validators[item.slot]
        valid = getattr(validator, "is_valid", None)  # jsonschema_rs's: a fifth cheaper than no errors
        if valid is not None and valid(element):
            continue
        where = f"{item.slot}[{item.element['id']}]"
        # The validator's own message can quote the value; name only where and which rule.
        problems.extend(
            Issue(
                path=where + _json_path(error.instance_path),
                message=f"violates the {_rule(error)} rule of the schema",
            )
            for error in validator.iter_errors(element)
        )
    return problems[:20]


def _json_path(parts: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _rule(error: Any) -> str:
    return type(error.kind).__name__


def _failed(rec: Record, what: str, problems: list[Issue]) -> RecordOutcome:
    return RecordOutcome(
        location=rec.location,
        status=FAILED,
        reason=f"the mapped {what} does not validate against the Success Plan schema; "
        "fix the mapping and replay",
        issues=tuple(problems),
    )
